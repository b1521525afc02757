"""Reads of the store. Every customer-facing read is scoped to the caller."""

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from side_effects.selectors import side_effects_annotate

from .exceptions import CartItemNotFound, CartNotFound, OrderNotFound
from .models import (
    Cart,
    CartItem,
    DuplicateAlert,
    Order,
    OrderItem,
    PriceChange,
    Product,
    StockMovement,
)


def product_list() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True).order_by("pk")


def product_get(*, product_id: int) -> Product:
    return Product.objects.get(pk=product_id)


def product_price_history(*, product_id: int) -> QuerySet[PriceChange]:
    """A public product's price changes, newest first; Product.DoesNotExist for an unknown
    or inactive one."""
    product_list().only("pk").get(pk=product_id)
    return PriceChange.objects.filter(product_id=product_id).order_by("-changed_at", "-id")


def cart_get(*, customer, cart_id) -> Cart:
    """The caller's cart; CartNotFound for an unknown or a foreign one alike."""
    try:
        return cart_list(customer=customer).get(pk=cart_id)
    except Cart.DoesNotExist:
        raise CartNotFound(cart_id) from None


def cart_list(*, customer) -> QuerySet[Cart]:
    """The customer's carts, each with its `line_items` (their products loaded)."""
    return Cart.objects.filter(customer=customer).prefetch_related(
        Prefetch("items", queryset=CartItem.objects.select_related("product"), to_attr="line_items")
    )


def cart_current(*, customer, with_lines: bool = True) -> Cart | None:
    """The cart the shop's pages fill: the customer's newest (the API may hold others),
    with its `line_items` unless `with_lines` is off; None when they have none."""
    carts = cart_list(customer=customer) if with_lines else Cart.objects.filter(customer=customer)
    return carts.order_by("-created_at", "-pk").first()


def cart_item_get(*, customer, cart_id, item_id) -> CartItem:
    """A line of the caller's cart; CartItemNotFound otherwise."""
    try:
        return CartItem.objects.select_related("product").get(
            pk=item_id, cart_id=cart_id, cart__customer=customer
        )
    except CartItem.DoesNotExist:
        raise CartItemNotFound(item_id) from None


def order_list(*, user, with_lines: bool = True) -> QuerySet[Order]:
    """The user's own orders (none without a customer row: reading creates none), each
    with its side effects' states and, unless `with_lines` is off (the pages' lists show no
    lines), `line_items` with their products: what the API and the pages show, in three
    queries for a page."""
    return _shown(Order.objects.filter(customer__user=user), with_lines=with_lines)


def order_detail(*, order_id: int) -> Order:
    """Any order, as order_list shows one (its caller was allowed to see it)."""
    return _shown(Order.objects.filter(pk=order_id)).get()


def _shown(orders: QuerySet[Order], *, with_lines: bool = True) -> QuerySet[Order]:
    orders = side_effects_annotate(orders)
    if with_lines:
        lines = OrderItem.objects.select_related("product")
        orders = orders.prefetch_related(Prefetch("items", queryset=lines, to_attr="line_items"))
    return orders


def order_get(*, user, order_id) -> Order:
    """One of the user's own orders, as order_list gives them; OrderNotFound otherwise."""
    try:
        return order_list(user=user).get(pk=order_id)
    except Order.DoesNotExist:
        raise OrderNotFound(order_id) from None


def order_visible_to(*, user, order_id: int) -> Order:
    """The order, if `user` may see it: their own, or any for staff. Order.DoesNotExist
    otherwise."""
    orders = Order.objects.select_related("customer")
    if not user.is_staff:
        orders = orders.filter(customer__user=user)
    return orders.get(pk=order_id)


def duplicate_alert_get(*, alert_id: int) -> DuplicateAlert:
    """A staff alert of duplicate orders with `named`: the orders it names, by id, each
    with its customer's user. DuplicateAlert.DoesNotExist for an unknown one."""
    named = Order.objects.select_related("customer__user")
    return DuplicateAlert.objects.prefetch_related(
        Prefetch("orders", queryset=named.order_by("pk"), to_attr="named")
    ).get(pk=alert_id)


def order_latest_with_lines(*, customer_id: int, lines_key: str, since) -> int | None:
    """The id of the customer's latest order with these lines placed at `since` or later;
    on the index (customer, lines_key, placed_at)."""
    return (
        Order.objects.filter(customer_id=customer_id, lines_key=lines_key, placed_at__gte=since)
        .order_by("-placed_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )


def order_for_processing(*, order_id: int, with_customer: bool = True) -> Order:
    """One order with what its side-effect tasks need, in one query over its items: its
    `line_items` with their products, and the customer's user unless `with_customer` is
    off; fields not read are deferred. Raises Order.DoesNotExist."""
    related = ["product", "order__customer__user" if with_customer else "order"]
    fields = ["order", "product", "unit_price", "quantity", "product__sku", "product__name"]
    fields += [
        f"order__{name}"
        for name in (
            "customer",
            "total",
            "placed_at",
            "status",
            "duplicate_of",
            "cancel_reason",
            "tracking_number",
        )
    ]
    if with_customer:  # the user and what the confirmation email reads of them
        fields += [
            "order__customer__user",
            "order__customer__user__username",
            "order__customer__user__email",
            "order__customer__user__first_name",
            "order__customer__user__last_name",
        ]
    items = list(
        OrderItem.objects.filter(order_id=order_id)
        .select_related(*related)
        .only(*fields)
        .order_by("product_id")
    )
    if not items:  # checkout never writes an order without items
        raise Order.DoesNotExist(f"order {order_id} does not exist")
    order = items[0].order  # the first row's copy of the order is kept
    for item in items:
        item.order = order
    order.line_items = items
    return order


def order_items_unapplied(*, order_id: int) -> list[OrderItem]:
    """The order's items that no stock movement applied yet, by product, with their
    order's status; the order's row locked (store.locks.order_for_update's lock), so that
    a cancel of it waits for this transaction, or this one sees the cancel."""
    # NOT EXISTS, answered by the ledger's unique index; a LEFT JOIN read the whole ledger.
    applied = StockMovement.objects.filter(order_item=OuterRef("pk"))
    return list(
        OrderItem.objects.filter(order_id=order_id)
        .exclude(Exists(applied))
        .select_related("order")
        .select_for_update(no_key=True, of=("order",))
        .only("order__status", "product", "quantity", "crossed_low_stock")
        .order_by("product_id")
    )


def order_items_unreleased(*, order_id: int) -> list[OrderItem]:
    """The order's items that no release gave back yet, by product, each with `sold`:
    whether the inventory task moved it out of stock on hand."""
    movements = StockMovement.objects.filter(order_item=OuterRef("pk"))
    return list(
        OrderItem.objects.filter(order_id=order_id)
        .exclude(Exists(movements.filter(reason=StockMovement.Reason.RELEASE)))
        .annotate(sold=Exists(movements.filter(reason=StockMovement.Reason.SALE)))
        .only("order", "product", "quantity")
        .order_by("product_id")
    )
