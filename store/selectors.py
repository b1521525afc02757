"""Reads of the store. Every customer-facing read is scoped to the caller."""

from django.db.models import Prefetch, QuerySet

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


def cart_owned(*, customer, cart_id) -> Cart:
    """The caller's cart without its items; Cart.DoesNotExist for anyone else's."""
    return Cart.objects.get(pk=cart_id, customer=customer)


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


def order_for_processing(*, order_id: int) -> Order:
    """An order with what its side-effect tasks need: customer, items and products.
    Raises Order.DoesNotExist."""
    return (
        Order.objects.select_related("customer__user")
        .prefetch_related(Prefetch("items", queryset=OrderItem.objects.select_related("product")))
        .get(pk=order_id)
    )


def product_get(*, product_id: int) -> Product:
    return Product.objects.get(pk=product_id)
