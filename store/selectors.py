"""Reads of the store. Every customer-facing read is scoped to the caller."""

from django.db.models import Prefetch, Q, QuerySet

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


def side_effects_due(
    *, kind: str, order_id: int, limit: int, lock: bool = False
) -> tuple[str | None, list[int]]:
    """A batch of work for a side-effect task, in one statement: the status of `order_id`'s
    `kind` side effect (None when there is no such row or, with `lock`, another transaction
    holds it), and the ids of up to `limit` orders whose `kind` side effect is pending,
    oldest first, `order_id` among them when it is pending.

    With `lock`, the rows are locked for the caller's transaction; rows another
    transaction holds are skipped (FOR UPDATE SKIP LOCKED): another delivery is on them.
    """
    oldest = OrderSideEffect.objects.filter(
        kind=kind, status=OrderSideEffect.Status.PENDING
    ).order_by("order_id")
    rows = OrderSideEffect.objects.filter(kind=kind).filter(
        Q(order_id=order_id) | Q(order_id__in=oldest.values("order_id")[:limit])
    )
    if lock:
        rows = rows.select_for_update(skip_locked=True)
    found = dict(rows.order_by("order_id").values_list("order_id", "status"))
    pending = [oid for oid, status in found.items() if status == OrderSideEffect.Status.PENDING]
    if len(pending) > limit:  # this order came on top of `limit` older ones: it goes first
        older = [oid for oid in pending if oid != order_id]
        pending = sorted([*older[: limit - 1], order_id])
    return found.get(order_id), pending


def orders_for_processing(*, order_ids: list[int], with_customer: bool = True) -> list[Order]:
    """Orders with what their side-effect tasks need, in one query over their items: the
    items and their products, and the customer's user unless `with_customer` is off (each
    join costs: the ORM's work per query dominates a task's CPU). Unknown ids are left out.
    """
    related = ["product", "order__customer__user" if with_customer else "order"]
    fields = ["order_id", "product_id", "unit_price", "quantity", "product__sku", "product__name"]
    fields += ["order__customer_id", "order__total", "order__placed_at", "order__status"]
    if with_customer:
        fields += [f"order__customer__user__{name}" for name in CUSTOMER_USER_FIELDS]
    orders: dict[int, Order] = {}
    items: dict[int, list[OrderItem]] = {}
    for item in (
        OrderItem.objects.filter(order_id__in=order_ids)
        .select_related(*related)
        .only(*fields)
        .order_by("order_id", "product_id")
    ):
        order = orders.setdefault(item.order_id, item.order)
        item.order = order
        items.setdefault(order.pk, []).append(item)
    for order in orders.values():
        attach_related(order, items=items[order.pk])
    return list(orders.values())


def order_for_processing(*, order_id: int, with_customer: bool = True) -> Order:
    """One order as orders_for_processing() reads it. Raises Order.DoesNotExist."""
    orders = orders_for_processing(order_ids=[order_id], with_customer=with_customer)
    if not orders:  # checkout never writes an order without items
        raise Order.DoesNotExist(f"order {order_id} does not exist")
    return orders[0]


CUSTOMER_USER_FIELDS = ("username", "email", "first_name", "last_name")


def product_get(*, product_id: int) -> Product:
    return Product.objects.get(pk=product_id)
