"""Checkout: a cart becomes an order, in one transaction."""

import hashlib
import json
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from core.signals import isolated_inserts, send_robust_isolated
from side_effects.services import side_effects_open

from .. import locks
from ..exceptions import CartEmpty, CartNotFound, IdempotencyKeyReused
from ..models import Cart, Customer, Order, OrderItem
from ..signals import order_created
from .duplicates import order_lines_key
from .stock import stock_reserve


@dataclass(frozen=True)
class Placement:
    order: Order
    created: bool


def request_fingerprint(*, payload: dict) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_place(
    *, customer: Customer, cart_id, idempotency_key: str | None = None, fingerprint: str = ""
) -> Placement:
    """Turn the customer's cart into an order, in one transaction with order_created's
    receivers' rows (docs/architecture.md, "The flow of one checkout"). Raises CartNotFound,
    CartEmpty, InsufficientStock or IdempotencyKeyReused, writing nothing. A new order
    comes with its `line_items` as written."""
    # No lookup of the key first: a replay finds its cart gone (the first request took it),
    # a reuse with another cart hits the key's unique constraint; both roll back and are
    # answered below. The common case, a new key, pays nothing for it.
    try:
        with transaction.atomic():
            order = _order_from_cart(customer, cart_id, idempotency_key, fingerprint)
    except (CartNotFound, IntegrityError):
        # A concurrent request with the same key may have won: it took the cart (we then
        # find none) or inserted the key first (unique violation). Answer with its order.
        keyed = Order.objects.filter(customer=customer, idempotency_key=idempotency_key)
        replay = keyed.first() if idempotency_key else None
        if replay is None:
            raise
        if replay.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused(idempotency_key) from None
        return Placement(replay, created=False)
    return Placement(order, created=True)


def _order_from_cart(customer, cart_id, idempotency_key, fingerprint) -> Order:
    lines = list(locks.cart_lines_for_checkout(customer=customer, cart_id=cart_id))
    if not lines:
        if Cart.objects.filter(pk=cart_id, customer=customer).exists():
            raise CartEmpty(cart_id)
        raise CartNotFound(cart_id)
    wanted = {line.product_id: line.quantity for line in lines}
    products = {line.product_id: line.product for line in lines}
    stock_reserve(wanted=wanted, products=products)
    # What receivers write (order_created's and any post_save of Order's: the
    # notification, the webhook deliveries, their jobs) goes in with one savepoint at
    # the end, isolated.
    with isolated_inserts(about=f"the order of cart {cart_id}"):
        # pre_save flags a repeat of a recent order (store.receivers): identical carts lock
        # the same products above, so of two at once the second sees the first committed.
        order = Order.objects.create(
            customer=customer,
            total=sum(products[pid].price * qty for pid, qty in wanted.items()),
            idempotency_key=idempotency_key or None,
            request_fingerprint=fingerprint,
            lines_key=order_lines_key(wanted=wanted),
        )
        order.line_items = OrderItem.objects.bulk_create(
            [_order_item(order, products[pid], qty) for pid, qty in wanted.items()]
        )
        side_effects_open(order=order)
        lines[0].cart.delete()  # and its lines
        send_robust_isolated(
            order_created, sender=Order, about=f"order_created, order {order.pk}", order=order
        )
    return order


def _order_item(order: Order, product, quantity: int) -> OrderItem:
    return OrderItem(
        order=order,
        product=product,
        unit_price=product.price,
        quantity=quantity,
        # This reservation takes the product below its threshold: the inventory task alerts.
        crossed_low_stock=product.available
        >= product.low_stock_threshold
        > product.available - quantity,
    )
