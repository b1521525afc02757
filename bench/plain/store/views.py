"""The API's views: the catalog, carts, checkout and orders, answering as Shopflow's do."""

from django.db import IntegrityError, transaction
from django.db.models import Prefetch, prefetch_related_objects
from rest_framework import exceptions, generics, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Cart, CartItem, Order, OrderItem, Product
from .serializers import (
    CartItemSerializer,
    CartSerializer,
    CreateOrderSerializer,
    InsufficientStock,
    OrderSerializer,
    ProductSerializer,
    fingerprint,
)


def cart_prefetch(cart: Cart) -> Cart:
    prefetch_related_objects([cart], Prefetch("items", CartItem.objects.select_related("product")))
    return cart


def orders_of(customer):
    items = Prefetch("items", OrderItem.objects.select_related("product"), to_attr="line_items")
    return Order.objects.filter(customer=customer).prefetch_related(items)


class ProductListView(generics.ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = ProductSerializer
    queryset = Product.objects.filter(is_active=True)


class CartListCreateView(APIView):
    def post(self, request):
        cart = Cart.objects.create(customer=request.user.customer)
        return Response(CartSerializer(cart_prefetch(cart)).data, status=status.HTTP_201_CREATED)


class CartDetailView(APIView):
    def get(self, request, cart_id):
        cart = Cart.objects.filter(pk=cart_id, customer=request.user.customer).first()
        if cart is None:
            raise exceptions.NotFound("Cart not found.")
        return Response(CartSerializer(cart_prefetch(cart)).data)


class CartItemListView(APIView):
    def post(self, request, cart_id):
        """Add a product to the cart; a second add of the same product adds up."""
        with transaction.atomic():
            cart = Cart.objects.select_for_update().filter(
                pk=cart_id, customer=request.user.customer
            )
            cart = cart.first()
            if cart is None:
                raise exceptions.NotFound("Cart not found.")
            body = CartItemSerializer(data=request.data, context={"cart": cart})
            body.is_valid(raise_exception=True)
            item = body.save()
        return Response(CartItemSerializer(item).data, status=status.HTTP_201_CREATED)


class OrderListCreateView(generics.ListAPIView):
    serializer_class = OrderSerializer

    def get_queryset(self):
        return orders_of(self.request.user.customer)

    def post(self, request):
        """Check out a cart. With an Idempotency-Key, a replay answers with the order the key
        placed (Idempotent-Replayed: true); the key with another cart is 422."""
        customer, key = request.user.customer, request.headers.get("Idempotency-Key") or None
        if key is not None and not (len(key) <= 255 and key.isascii() and key.isprintable()):
            raise exceptions.ValidationError(
                {"Idempotency-Key": ["At most 255 printable ASCII characters."]}
            )
        checkout = CreateOrderSerializer(
            data=request.data, context={"customer": customer, "idempotency_key": key}
        )
        checkout.is_valid(raise_exception=True)
        order, replayed = self.place(checkout, customer, key)
        headers = {"Location": f"/api/orders/{order.pk}/"}
        if replayed:
            order = orders_of(customer).get(pk=order.pk)
            headers["Idempotent-Replayed"] = "true"
        return Response(
            OrderSerializer(order).data, status=status.HTTP_201_CREATED, headers=headers
        )

    def place(self, checkout, customer, key) -> tuple[Order, bool]:
        """The order, and whether an earlier request with this key had placed it."""
        if key and (order := self.order_for_key(customer, key, checkout)):
            return order, True
        try:
            return checkout.save(), False
        except (IntegrityError, exceptions.NotFound):
            # A concurrent request with the same key won: it took the cart, or the key.
            if key and (order := self.order_for_key(customer, key, checkout)):
                return order, True
            raise

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, InsufficientStock):
            response.data["products"] = exc.products  # what is short, as Shopflow names it
        return response

    def order_for_key(self, customer, key: str, checkout) -> Order | None:
        order = Order.objects.filter(customer=customer, idempotency_key=key).first()
        cart_id = checkout.validated_data["cart_id"]
        if order is not None and order.request_fingerprint != fingerprint(cart_id=cart_id):
            raise Unprocessable()
        return order


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was already used with a different request body."


class OrderDetailView(APIView):
    def get(self, request, order_id):
        order = orders_of(request.user.customer).filter(pk=order_id).first()
        if order is None:
            raise exceptions.NotFound("Order not found.")
        return Response(OrderSerializer(order).data)
