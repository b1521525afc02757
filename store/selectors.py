"""Reads of the store. Every customer-facing read is scoped to the caller."""

from django.db.models import Prefetch, QuerySet

from core.db import attach_related

from .models import Cart, CartItem, Order, OrderItem, OrderSideEffect, Product


def product_list() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True).order_by("pk")


def cart_get(*, customer, cart_id) -> Cart:
    """The caller's cart; Cart.DoesNotExist for an unknown or a foreign one alike."""
    return Cart.objects.prefetch_related(
        Prefetch("items", queryset=CartItem.objects.select_related("product"))
    ).get(pk=cart_id, customer=customer)


def cart_list(*, customer) -> QuerySet[Cart]:
    return Cart.objects.filter(customer=customer).prefetch_related(
        Prefetch("items", queryset=CartItem.objects.select_related("product"))
    )


def cart_item_get(*, customer, cart_id, item_id) -> CartItem:
    return CartItem.objects.select_related("product").get(
        pk=item_id, cart_id=cart_id, cart__customer=customer
    )


def order_list(*, customer) -> QuerySet[Order]:
    return Order.objects.filter(customer=customer).prefetch_related(
        Prefetch("items", queryset=OrderItem.objects.select_related("product")),
        "side_effects",
    )


def order_get(*, customer, order_id) -> Order:
    return order_list(customer=customer).get(pk=order_id)


def order_side_effects(*, order: Order) -> dict[str, str]:
    """{kind: status} for every side effect of DESIGN.md, pending until a task says else."""
    states = {kind: OrderSideEffect.Status.PENDING.value for kind in OrderSideEffect.Kind.values}
    states.update({effect.kind: effect.status for effect in order.side_effects.all()})
    return states


# What side-effect tasks read of an order: fewer columns, fewer values to convert.
PROCESSING_FIELDS = (
    "order_id", "product_id", "unit_price", "quantity",
    "order__customer_id", "order__total", "order__placed_at", "order__status",
    "order__customer__user_id",
    "order__customer__user__username", "order__customer__user__email",
    "order__customer__user__first_name", "order__customer__user__last_name",
    "product__sku", "product__name",
)  # fmt: skip


def order_for_processing(*, order_id: int) -> Order:
    """An order with what its side-effect tasks need (customer and user, items and their
    products), in one query over its items. Raises Order.DoesNotExist."""
    items = list(
        OrderItem.objects.filter(order_id=order_id)
        .select_related("order__customer__user", "product")
        .only(*PROCESSING_FIELDS)
        .order_by("product_id")
    )
    if not items:  # checkout never writes an order without items
        raise Order.DoesNotExist(f"order {order_id} does not exist")
    order = items[0].order
    for item in items:
        item.order = order
    attach_related(order, items=items)
    return order


def product_get(*, product_id: int) -> Product:
    return Product.objects.get(pk=product_id)
