from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.serializers import ModelSerializer

from core.api import ErrorSerializer
from core.money import CurrencyField
from side_effects import registry
from side_effects.selectors import side_effect_states
from worker.models import Job

from .models import Cart, CartItem, Order, OrderItem, PriceChange, Product
from .services.carts import MAX_LINE_QUANTITY, cart_create
from .services.checkout import Placement, order_place, request_fingerprint


class ProductSerializer(ModelSerializer):
    available = serializers.IntegerField(read_only=True)
    currency = CurrencyField()

    class Meta:
        model = Product
        fields = ["id", "sku", "name", "price", "currency", "available"]


class CartItemSerializer(ModelSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    name = serializers.CharField(source="product.name", read_only=True)
    unit_price = serializers.DecimalField(
        source="product.price", max_digits=10, decimal_places=2, read_only=True
    )

    class Meta:
        model = CartItem
        fields = ["id", "product_id", "sku", "name", "unit_price", "quantity"]


class CartSerializer(ModelSerializer):
    items = CartItemSerializer(many=True, read_only=True, source="line_items")
    total = serializers.SerializerMethodField()
    currency = CurrencyField()

    class Meta:
        model = Cart
        fields = ["id", "items", "total", "currency", "created_at", "updated_at"]

    def get_total(self, cart) -> str:
        return f"{sum((item.product.price * item.quantity for item in cart.line_items), 0):.2f}"

    def create(self, validated_data) -> Cart:
        # Every field is read-only: a new cart takes save()'s customer and nothing of the
        # body, which must still be a JSON object.
        return cart_create(customer=validated_data["customer"])


class CartItemAddSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_LINE_QUANTITY)


class CartItemUpdateSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_LINE_QUANTITY)


class OrderItemSerializer(ModelSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    name = serializers.CharField(source="product.name", read_only=True)
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = OrderItem
        fields = ["product_id", "sku", "name", "unit_price", "quantity", "line_total"]


class SideEffectsSerializer(serializers.Serializer):
    """Where each consequence of an order stands."""

    # For the schema: a field per kind the apps registered (side_effects.registry), added
    # to `fields` once made, as DRF's docs ("Dynamically modifying fields") show.
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        placed = registry.kinds(on=registry.PLACED)
        for kind in registry.kinds():
            self.fields[kind] = serializers.ChoiceField(
                choices=Job.Status.choices, required=kind in placed
            )


class OrderSerializer(ModelSerializer):
    items = OrderItemSerializer(many=True, read_only=True, source="line_items")
    currency = CurrencyField()
    side_effects = serializers.SerializerMethodField()
    duplicate_of = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="The earlier order with the same lines that this one repeats, placed "
        "within minutes by the same customer; null for none. The order is placed anyway.",
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "status",
            "items",
            "total",
            "currency",
            "placed_at",
            "cancelled_at",
            "fulfilled_at",
            "tracking_number",
            "side_effects",
            "duplicate_of",
        ]

    @extend_schema_field(SideEffectsSerializer)
    def get_side_effects(self, order) -> dict[str, str]:
        return side_effect_states(order=order)


class UUIDStringField(serializers.UUIDField):
    """A UUID as the schema has it, a string. DRF's field also takes a number (42 becomes
    UUID(int=42)), which then names no cart: a 404 where the request was what was wrong."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


# Checkout. save() places the order through store.services.checkout.order_place, which
# does the whole job in one transaction; this class only validates and hands over. (A
# comment, not a docstring: the schema would publish it.)
class CreateOrderSerializer(serializers.Serializer):
    cart_id = UUIDStringField()

    def save(self, *, customer, idempotency_key=None) -> Placement:
        cart_id = self.validated_data["cart_id"]
        return order_place(
            customer=customer,
            cart_id=cart_id,
            idempotency_key=idempotency_key,
            fingerprint=request_fingerprint(payload={"cart_id": str(cart_id)}),
        )


# --- Error answers, for the schema -------------------------------------------------------


class ShortageSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    sku = serializers.CharField()
    requested = serializers.IntegerField()
    available = serializers.IntegerField()


class ShortageErrorSerializer(ErrorSerializer):
    """409: what the cart asked for and what is available, per short product."""

    products = ShortageSerializer(many=True)


class PriceChangeSerializer(ModelSerializer):
    class Meta:
        model = PriceChange
        fields = ["old_price", "new_price", "changed_at"]
        read_only_fields = fields


class OrderCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class OrderFulfilSerializer(serializers.Serializer):
    tracking_number = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
