"""The API's shapes, as Shopflow's store serializers give them, and the checkout: the
seeds' transactional serializer."""

import hashlib
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions, serializers, status

from .models import Cart, CartItem, Order, OrderItem, Product
from .signals import order_created

logger = logging.getLogger(__name__)

MAX_LINE_QUANTITY = 10_000  # as Shopflow's

# The side effects an order's answer lists: done, since they ran in the request.
SIDE_EFFECTS = ("confirmation_email", "inventory", "analytics")


class ProductSerializer(serializers.ModelSerializer):
    available = serializers.IntegerField(read_only=True)

    class Meta:
        model = Product
        fields = ["id", "sku", "name", "price", "available"]


class CartItemSerializer(serializers.ModelSerializer):
    product_id = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_LINE_QUANTITY)
    sku = serializers.CharField(source="product.sku", read_only=True)
    name = serializers.CharField(source="product.name", read_only=True)
    unit_price = serializers.DecimalField(
        source="product.price", max_digits=10, decimal_places=2, read_only=True
    )

    class Meta:
        model = CartItem
        fields = ["id", "product_id", "sku", "name", "unit_price", "quantity"]

    def validate(self, attrs):
        product = Product.objects.filter(pk=attrs["product_id"], is_active=True).first()
        if product is None:
            raise serializers.ValidationError({"product_id": ["Unknown product."]})
        return {**attrs, "product": product}

    def create(self, validated_data):
        """Under the cart's row lock (the view's): the line read here cannot race another add."""
        cart, product = self.context["cart"], validated_data["product"]
        item = CartItem.objects.filter(cart=cart, product=product).first()
        if item is None:
            item = CartItem.objects.create(
                cart=cart, product=product, quantity=validated_data["quantity"]
            )
        else:
            if item.quantity + validated_data["quantity"] > MAX_LINE_QUANTITY:
                raise serializers.ValidationError(
                    {"quantity": [f"At most {MAX_LINE_QUANTITY} of one product per cart."]}
                )
            item.quantity += validated_data["quantity"]
            item.save(update_fields=["quantity"])
        cart.save(update_fields=["updated_at"])
        return item


class CartSerializer(serializers.ModelSerializer):
    items = CartItemSerializer(many=True, read_only=True)
    total = serializers.SerializerMethodField()

    class Meta:
        model = Cart
        fields = ["id", "items", "total", "created_at", "updated_at"]

    def get_total(self, cart) -> str:
        items = cart.items.all()  # prefetched with their products (views.cart_prefetch)
        return f"{sum((item.product.price * item.quantity for item in items), 0):.2f}"


class OrderItemSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    name = serializers.CharField(source="product.name", read_only=True)
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = OrderItem
        fields = ["product_id", "sku", "name", "unit_price", "quantity", "line_total"]


class OrderSerializer(serializers.ModelSerializer):
    items = OrderItemSerializer(many=True, read_only=True, source="line_items")
    side_effects = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = ["id", "status", "items", "total", "placed_at", "side_effects", "duplicate_of"]

    def get_side_effects(self, order) -> dict[str, str]:
        return dict.fromkeys(SIDE_EFFECTS, "done")


class InsufficientStock(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT

    def __init__(self, shortages: list[dict]):
        names = ", ".join(f"{s['name']} ({s['sku']})" for s in shortages)
        super().__init__(f"Insufficient stock for: {names}.")
        self.products = [{k: v for k, v in s.items() if k != "name"} for s in shortages]


class CreateOrderSerializer(serializers.Serializer):
    """The checkout, in one transaction: the cart and its products locked (products in
    primary-key order), stock checked and reserved, the order and its items written, the
    cart deleted; order_created once it commits, its receivers in this request."""

    cart_id = serializers.UUIDField()

    def create(self, validated_data):
        with transaction.atomic():
            order = self._place(validated_data["cart_id"])
            transaction.on_commit(lambda: announce(order))
        return order

    def _place(self, cart_id) -> Order:
        customer = self.context["customer"]
        cart = Cart.objects.select_for_update().filter(pk=cart_id, customer=customer).first()
        if cart is None:
            raise exceptions.NotFound("Cart not found.")
        lines = {item.product_id: item.quantity for item in cart.items.order_by("product_id")}
        if not lines:
            raise exceptions.ValidationError({"cart_id": ["The cart is empty."]})
        products = list(Product.objects.select_for_update().filter(pk__in=lines).order_by("pk"))
        _check_stock(products, lines)
        order = Order.objects.create(
            customer=customer,
            total=sum(p.price * lines[p.pk] for p in products),
            idempotency_key=self.context.get("idempotency_key"),
            request_fingerprint=fingerprint(cart_id=cart_id),
            lines_key=lines_key(lines),
            duplicate_of_id=_recent_same_order(customer, lines_key(lines)),
        )
        order.line_items = OrderItem.objects.bulk_create(
            [
                OrderItem(order=order, product=p, unit_price=p.price, quantity=lines[p.pk])
                for p in products
            ]
        )
        for product in products:
            product.reserved += lines[product.pk]
            product.save(update_fields=["reserved", "updated_at"])
        cart.delete()
        return order


def _check_stock(products: list[Product], lines: dict[int, int]) -> None:
    found = {p.pk: p for p in products}
    shortages = []
    for pid, quantity in lines.items():
        product = found.get(pid)
        available = product.available if product and product.is_active else 0
        if quantity > available:
            shortages.append(
                {
                    "product_id": pid,
                    "sku": product.sku if product else "",
                    "name": product.name if product else f"product {pid}",
                    "requested": quantity,
                    "available": max(available, 0),
                }
            )
    if shortages:
        raise InsufficientStock(shortages)


def _recent_same_order(customer, key: str) -> int | None:
    """The id of the customer's latest order with these lines in the window, or None."""
    since = timezone.now() - timedelta(minutes=settings.SHOPFLOW_DUPLICATE_WINDOW_MINUTES)
    return (
        Order.objects.filter(customer=customer, lines_key=key, placed_at__gte=since)
        .order_by("-placed_at")
        .values_list("pk", flat=True)
        .first()
    )


def announce(order: Order) -> None:
    """order_created, robustly: a receiver that raised is logged with its traceback."""
    for receiver, result in order_created.send_robust(sender=Order, order=order):
        if isinstance(result, Exception):
            logger.error(
                "order_created: %s failed for order %s",
                getattr(receiver, "__qualname__", receiver),
                order.pk,
                exc_info=result,
            )


def fingerprint(*, cart_id) -> str:
    """As Shopflow's: a hash of the request body, to tell a replay from a misuse of a key."""
    canonical = json.dumps({"cart_id": str(cart_id)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def lines_key(lines: dict[int, int]) -> str:
    text = ",".join(f"{pid}x{qty}" for pid, qty in sorted(lines.items()))
    return hashlib.sha256(text.encode()).hexdigest()
