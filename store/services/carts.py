from datetime import timedelta

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from .. import locks, selectors
from ..exceptions import CartItemNotFound, CartNotFound, ProductNotFound, QuantityTooLarge
from ..models import Cart, CartItem, Customer, Product

# A cart line above this is a typo or an attack, not a purchase; it also keeps sums far
# from the integer column's limit.
MAX_LINE_QUANTITY = 10_000


def cart_create(*, customer: Customer) -> Cart:
    """A new, empty cart (its `line_items` as the selectors give them: none)."""
    cart = Cart.objects.create(customer=customer)
    cart.line_items = []
    return cart


def cart_current_ensure(*, customer: Customer) -> Cart:
    """The customer's current cart (selectors.cart_current), made when they have none.
    The customer's row is locked while it is chosen, so two tabs adding at once fill one
    cart."""
    with transaction.atomic():
        locks.customer_for_update(customer_id=customer.pk).first()
        current = selectors.cart_current(customer=customer, with_lines=False)
        return current or cart_create(customer=customer)


def cart_current_item_add(*, customer: Customer, product_id: int, quantity: int) -> CartItem:
    """cart_item_add to the customer's current cart (cart_current_ensure), in one
    transaction: an add refused makes no cart."""
    with transaction.atomic():
        cart = cart_current_ensure(customer=customer)
        return cart_item_add(
            customer=customer, cart_id=cart.pk, product_id=product_id, quantity=quantity
        )


def cart_item_add(*, customer: Customer, cart_id, product_id: int, quantity: int) -> CartItem:
    """Add quantity of a product to the customer's cart; a second add of the same product
    adds up. Raises CartNotFound (unknown or someone else's), ProductNotFound or
    QuantityTooLarge, and then changes nothing. Three statements in a transaction."""
    with transaction.atomic():
        # Adds to one cart queue up on its lock: the line's quantity read below cannot
        # change before the write.
        _cart_touch(cart_id=cart_id, customer=customer)
        line = CartItem.objects.filter(cart_id=cart_id, product_id=OuterRef("pk"))
        product = (
            Product.objects.filter(pk=product_id, is_active=True)
            .only("pk", "sku", "name", "price")
            .annotate(in_cart=Subquery(line.values("quantity")))  # the product's line, if any
            .first()
        )
        if product is None:
            raise ProductNotFound(product_id)
        total = (product.in_cart or 0) + quantity
        if total > MAX_LINE_QUANTITY:
            raise QuantityTooLarge(MAX_LINE_QUANTITY)
        # The line, new or with its quantity set, in one INSERT ... ON CONFLICT DO UPDATE,
        # which gives back its id either way.
        (item,) = CartItem.objects.bulk_create(
            [CartItem(cart_id=cart_id, product=product, quantity=total)],
            update_conflicts=True,
            unique_fields=["cart", "product"],
            update_fields=["quantity"],
        )
    return item


def _cart_touch(*, cart_id, **lookup) -> None:
    """Touch the cart's updated_at: its UPDATE takes the cart's row lock, as checkout
    takes it, for the rest of the write's transaction. CartNotFound when there is no such
    cart (`lookup` narrows it: the customer's), or when a checkout took it meanwhile."""
    if not locks.cart_to_touch(cart_id=cart_id, **lookup).update(updated_at=timezone.now()):
        raise CartNotFound(cart_id)


def cart_item_set_quantity(*, item: CartItem, quantity: int) -> CartItem:
    with transaction.atomic():
        _cart_touch(cart_id=item.cart_id)
        if not CartItem.objects.filter(pk=item.pk).update(quantity=quantity):
            raise CartItemNotFound(item.pk)
    item.quantity = quantity
    return item


def cart_item_remove(*, item: CartItem) -> None:
    """Remove a cart line. Like every cart write it takes the cart's lock first: a removal
    during a checkout waits for it, then finds the cart gone (CartNotFound) instead of
    answering for a line the checkout has already ordered."""
    with transaction.atomic():
        _cart_touch(cart_id=item.cart_id)
        CartItem.objects.filter(pk=item.pk).delete()


def carts_remove_abandoned(*, older_than: timedelta) -> int:
    """Delete carts untouched for longer than `older_than`. Safe to run twice at once:
    a DELETE of rows already gone deletes nothing."""
    cutoff = timezone.now() - older_than
    _, by_model = Cart.objects.filter(updated_at__lt=cutoff).delete()
    return by_model.get(Cart._meta.label, 0)
