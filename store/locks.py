"""Every row lock the store takes: named querysets for the caller's transaction, products
in primary-key order (overlapping transactions queue instead of deadlocking) and FOR NO
KEY UPDATE, which does not block inserts that merely refer to a product (order items)."""

from django.db.models import QuerySet

from .models import Cart, CartItem, Customer, Order, Product

# What checkout reads of a product, under its row lock.
CHECKOUT_PRODUCT_FIELDS = (
    "sku",
    "name",
    "price",
    "on_hand",
    "reserved",
    "is_active",
    "low_stock_threshold",
)


def cart_lines_for_checkout(*, customer, cart_id) -> QuerySet[CartItem]:
    """The lines of the customer's cart with their products, the cart and the products
    locked (products in primary-key order). A double submit waits on the cart's lock, then
    finds no lines: the first checkout deleted them."""
    return (
        CartItem.objects.filter(cart_id=cart_id, cart__customer=customer)
        .select_related("cart", "product")
        .select_for_update(of=("cart", "product"), no_key=True)
        .order_by("product_id")
        .only(
            "quantity",
            "cart_id",
            "product_id",
            "cart__id",
            *(f"product__{name}" for name in CHECKOUT_PRODUCT_FIELDS),
        )
    )


def cart_to_touch(*, cart_id, **lookup) -> QuerySet[Cart]:
    """The cart (`lookup` narrows it: the customer's), for the UPDATE of its updated_at that
    begins every cart write: that UPDATE takes the cart's row lock (FOR NO KEY UPDATE, as
    checkout's), held to the end of the write's transaction."""
    return Cart.objects.filter(pk=cart_id, **lookup)


def products_for_update(*, product_ids) -> QuerySet[Product]:
    """The ids of these products, locked in primary-key order."""
    return (
        Product.objects.select_for_update(no_key=True)
        .filter(pk__in=product_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def product_price_for_update(*, product_id: int, using: str) -> QuerySet[Product]:
    """The stored price of the product, locked as its save's UPDATE will lock it."""
    return (
        Product.objects.using(using)
        .select_for_update(no_key=True)
        .filter(pk=product_id)
        .values_list("price", flat=True)
    )


def orders_flagged_unalerted() -> QuerySet[Order]:
    """The ids of the orders flagged duplicate that no staff alert named yet, in primary-key
    order, locked FOR NO KEY UPDATE; those another alert is taking are skipped."""
    return (
        Order.objects.filter(duplicate_of__isnull=False, duplicate_alert__isnull=True)
        .select_for_update(no_key=True, skip_locked=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def order_for_update(*, order_id: int, user=None) -> QuerySet[Order]:
    """The order with its customer's user, the order locked (FOR NO KEY UPDATE: its items'
    inserts are not blocked): a cancel and a fulfil of it queue, and the second sees what
    the first did. With `user`, only if they may act on it: their own, or any for staff."""
    orders = (
        Order.objects.select_related("customer__user")
        .select_for_update(no_key=True, of=("self",))
        .filter(pk=order_id)
    )
    if user is not None and not user.is_staff:
        orders = orders.filter(customer__user=user)
    return orders.order_by("pk")


def customer_for_update(*, customer_id: int) -> QuerySet[Customer]:
    """The customer's id, the row locked (FOR NO KEY UPDATE: their carts' and orders'
    inserts are not blocked): two tabs choosing the current cart at once queue."""
    return (
        Customer.objects.select_for_update(no_key=True)
        .filter(pk=customer_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
