from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, status
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ErrorSerializer

from . import selectors
from .models import Product
from .serializers import (
    CartItemAddSerializer,
    CartItemSerializer,
    CartItemUpdateSerializer,
    CartSerializer,
    CreateOrderSerializer,
    OrderCancelSerializer,
    OrderFulfilSerializer,
    OrderSerializer,
    PriceChangeSerializer,
    ProductSerializer,
    ShortageErrorSerializer,
)
from .services import carts, customers, lifecycle

IDEMPOTENCY_KEY_MAX_LENGTH = 255


class StoreAPIView(APIView):
    def customer(self):
        return customers.customer_ensure(user=self.request.user)


class ProductListView(generics.ListAPIView):
    """The catalog: anyone may browse it (products change in the admin only)."""

    permission_classes = [AllowAny]
    serializer_class = ProductSerializer
    queryset = selectors.product_list()  # DRF takes a fresh copy (.all()) each request


class ProductDetailView(generics.RetrieveAPIView):
    permission_classes = [AllowAny]
    serializer_class = ProductSerializer
    queryset = selectors.product_list()


@extend_schema_view(get=extend_schema(summary="A product's price history, newest first"))
class ProductPriceHistoryView(generics.ListAPIView):
    """A product's price changes, newest first: public, like the catalog."""

    permission_classes = [AllowAny]
    serializer_class = PriceChangeSerializer

    def get_queryset(self):
        try:
            return selectors.product_price_history(product_id=self.kwargs["pk"])
        except Product.DoesNotExist:
            raise exceptions.NotFound("No such product.") from None


@extend_schema_view(post=extend_schema(summary="Start a cart", request=None))
class CartListCreateView(StoreAPIView, generics.ListCreateAPIView):
    serializer_class = CartSerializer

    def get_queryset(self):
        return selectors.cart_list(customer=self.customer())

    def perform_create(self, serializer):
        serializer.save(customer=self.customer())


class CartDetailView(StoreAPIView):
    @extend_schema(summary="One of the caller's carts", responses=CartSerializer)
    def get(self, request, cart_id):
        cart = selectors.cart_get(customer=self.customer(), cart_id=cart_id)
        return Response(CartSerializer(cart).data)


class CartItemListView(StoreAPIView):
    @extend_schema(
        summary="Add a product to a cart",
        description="A second add of the same product adds up the quantities.",
        request=CartItemAddSerializer,
        responses={201: CartItemSerializer},
    )
    def post(self, request, cart_id):
        body = CartItemAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = carts.cart_item_add(customer=self.customer(), cart_id=cart_id, **body.validated_data)
        return Response(CartItemSerializer(item).data, status=status.HTTP_201_CREATED)


class CartItemDetailView(StoreAPIView):
    @extend_schema(
        summary="Set a cart line's quantity",
        request=CartItemUpdateSerializer,
        responses=CartItemSerializer,
    )
    def patch(self, request, cart_id, item_id):
        item = selectors.cart_item_get(customer=self.customer(), cart_id=cart_id, item_id=item_id)
        body = CartItemUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = carts.cart_item_set_quantity(item=item, **body.validated_data)
        return Response(CartItemSerializer(item).data)

    @extend_schema(summary="Remove a cart line", responses={204: None})
    def delete(self, request, cart_id, item_id):
        item = selectors.cart_item_get(customer=self.customer(), cart_id=cart_id, item_id=item_id)
        carts.cart_item_remove(item=item)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrderListCreateView(StoreAPIView, generics.ListAPIView):
    serializer_class = OrderSerializer

    def get_queryset(self):
        return selectors.order_list(user=self.request.user)

    @extend_schema(
        summary="Check out a cart",
        description=(
            "Turns the caller's cart into an order in one transaction and answers once it "
            "is committed; the order's side effects follow asynchronously (see "
            "`side_effects`). With an `Idempotency-Key`, a retry answers with the same "
            "order (and `Idempotent-Replayed: true`) instead of placing a second one."
        ),
        request=CreateOrderSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description=(
                    f"Any client-chosen key, at most {IDEMPOTENCY_KEY_MAX_LENGTH} printable "
                    "ASCII characters; the same key with another body is 422."
                ),
            )
        ],
        responses={
            201: OpenApiResponse(
                OrderSerializer,
                description="The order (new, or the one this key placed before).",
            ),
            404: OpenApiResponse(ErrorSerializer, description="No such cart of the caller's."),
            409: OpenApiResponse(
                ShortageErrorSerializer, description="Insufficient stock, by product."
            ),
            422: OpenApiResponse(
                ErrorSerializer, description="This Idempotency-Key was used with another body."
            ),
        },
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and not (
            len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH and key.isascii() and key.isprintable()
        ):
            detail = f"At most {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters."
            raise exceptions.ValidationError({"Idempotency-Key": [detail]})
        checkout = CreateOrderSerializer(data=request.data)
        checkout.is_valid(raise_exception=True)
        placement = checkout.save(customer=self.customer(), idempotency_key=key)
        order = placement.order
        headers = {"Location": f"/api/orders/{order.pk}/"}
        if not placement.created:
            # A replay answers with the order as it stands now, read from the database.
            order = selectors.order_get(user=request.user, order_id=order.pk)
            headers["Idempotent-Replayed"] = "true"
        return Response(
            OrderSerializer(order).data, status=status.HTTP_201_CREATED, headers=headers
        )


class OrderDetailView(APIView):
    @extend_schema(summary="One of the caller's orders", responses=OrderSerializer)
    def get(self, request, order_id):
        order = selectors.order_get(user=request.user, order_id=order_id)
        return Response(OrderSerializer(order).data)


def _changed(order) -> Response:
    """The order as the API shows it, after a change its caller was allowed to make."""
    return Response(OrderSerializer(selectors.order_detail(order_id=order.pk)).data)


CONFLICT = OpenApiResponse(ErrorSerializer, description="Its status refuses it.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such order of the caller's.")


class OrderCancelView(APIView):
    @extend_schema(
        summary="Cancel an order (its customer, or staff)",
        description="Its stock is released, its customer told. Again: 200, nothing twice.",
        request=OrderCancelSerializer,
        responses={200: OrderSerializer, 404: NOT_FOUND, 409: CONFLICT},
    )
    def post(self, request, order_id):
        incoming = OrderCancelSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        order = lifecycle.order_cancel(
            order_id=order_id, user=request.user, **incoming.validated_data
        )
        return _changed(order)


class OrderFulfilView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        summary="Fulfil an order (staff)",
        description="Its shipping email goes out. Again: 200, nothing twice.",
        request=OrderFulfilSerializer,
        responses={
            200: OrderSerializer,
            403: OpenApiResponse(ErrorSerializer, description="Staff only."),
            404: NOT_FOUND,
            409: CONFLICT,
        },
    )
    def post(self, request, order_id):
        incoming = OrderFulfilSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return _changed(lifecycle.order_fulfil(order_id=order_id, **incoming.validated_data))
