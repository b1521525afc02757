"""Writes of the store: carts, checkout, stock. Keyword-only, one transaction each."""

import contextlib
import contextvars
import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from lib.db import attach_related, delete_rows, insert_rows, placeholders, update_rows
from worker import outbox

from . import selectors
from .exceptions import (
    CartEmpty,
    CartItemNotFound,
    CartNotFound,
    IdempotencyKeyReused,
    InsufficientStock,
    ProductNotFound,
    QuantityTooLarge,
    Shortage,
    StockAdjustmentRefused,
)
from .models import (
    Cart,
    CartItem,
    Customer,
    Order,
    OrderItem,
    OrderSideEffect,
    PriceChange,
    Product,
    StockMovement,
    side_effect_deadline,
)
from .signals import order_created, side_effect_failed, stock_low

logger = logging.getLogger(__name__)

# A cart line above this is a typo or an attack, not a purchase; it also keeps sums far
# from the integer column's limit.
MAX_LINE_QUANTITY = 10_000


def customer_create(*, user) -> Customer:
    customer, _ = Customer.objects.get_or_create(user=user)
    return customer


def customer_ensure(*, user) -> Customer:
    """The user's Customer, created if the user has none yet. Costs no query when the
    authentication loaded it with the user (store.authentication)."""
    try:
        return user.customer
    except Customer.DoesNotExist:
        return customer_create(user=user)


# --- Catalog ------------------------------------------------------------------------


def product_stock_adjust(*, product_id: int, delta: int) -> Product:
    """Add `delta` units to stock on hand (negative to correct a count), in one UPDATE
    relative to the current row: never a stale absolute value that would undo a sale or a
    reservation made meanwhile. Raises StockAdjustmentRefused if on hand would drop below
    what is reserved."""
    with transaction.atomic():
        updated = Product.objects.filter(pk=product_id, on_hand__gte=F("reserved") - delta).update(
            on_hand=F("on_hand") + delta, updated_at=timezone.now()
        )
        if not updated:
            raise StockAdjustmentRefused(product_id)
    return Product.objects.get(pk=product_id)


# --- Carts -------------------------------------------------------------------------


def cart_create(*, customer: Customer) -> Cart:
    cart = Cart.objects.create(customer=customer)
    attach_related(cart, items=[])
    return cart


def cart_item_add(*, customer: Customer, cart_id, product_id: int, quantity: int) -> CartItem:
    """Add quantity of a product to the customer's cart; a second add of the same product
    adds up. Raises CartNotFound (unknown or someone else's), ProductNotFound or
    QuantityTooLarge, and then changes nothing."""
    with transaction.atomic():
        # Touching the cart takes its row lock (as checkout does), so adds to one cart
        # queue up and the read of the line below cannot race another add.
        if not Cart.objects.filter(pk=cart_id, customer=customer).update(updated_at=timezone.now()):
            raise CartNotFound(cart_id)
        product = (
            Product.objects.filter(pk=product_id, is_active=True)
            .only("pk", "sku", "name", "price")
            .first()
        )
        if product is None:
            raise ProductNotFound(product_id)
        item = CartItem.objects.filter(cart_id=cart_id, product_id=product_id).first()
        if item is None:
            item = CartItem.objects.create(cart_id=cart_id, product=product, quantity=quantity)
        else:
            if item.quantity + quantity > MAX_LINE_QUANTITY:
                raise QuantityTooLarge(MAX_LINE_QUANTITY)
            item.quantity += quantity
            item.save(update_fields=["quantity"])
    item.product = product
    return item


def cart_item_set_quantity(*, item: CartItem, quantity: int) -> CartItem:
    with transaction.atomic():
        _lock_cart(item.cart_id)
        if not CartItem.objects.filter(pk=item.pk).update(quantity=quantity):
            raise CartItemNotFound(item.pk)
        Cart.objects.filter(pk=item.cart_id).update(updated_at=timezone.now())
    item.quantity = quantity
    return item


def cart_item_remove(*, item: CartItem) -> None:
    cart_id = item.cart_id
    item.delete()
    Cart.objects.filter(pk=cart_id).update(updated_at=timezone.now())


def _lock_cart(cart_id) -> None:
    """Take the cart's row lock, as checkout does: a change to a cart being checked out
    waits for it, then finds the cart gone (CartNotFound) instead of failing at commit."""
    if not Cart.objects.select_for_update().filter(pk=cart_id).values_list("pk").first():
        raise CartNotFound(cart_id)


def carts_remove_abandoned(*, older_than: timedelta) -> int:
    """Delete carts untouched for longer than `older_than`. Safe to run twice at once:
    a DELETE of rows already gone deletes nothing."""
    cutoff = timezone.now() - older_than
    _, by_model = Cart.objects.filter(updated_at__lt=cutoff).delete()
    return by_model.get(Cart._meta.label, 0)


# --- Checkout ----------------------------------------------------------------------


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
    """Turn the customer's cart into an order, in one transaction.

    Reserves stock with a conditional UPDATE (no read-then-write race), deletes the cart
    and sends order_created inside the transaction, so receivers' outbox rows commit or
    roll back with the order. Raises CartNotFound, CartEmpty, InsufficientStock or
    IdempotencyKeyReused; nothing is written when it raises. A new order comes with its
    items (and their products) and side effects attached, as written: reading them back
    for the answer would cost three queries.
    """
    # No lookup of the key first: a replay finds its cart gone (the first request took it),
    # a reuse with another cart hits the key's unique constraint; both roll back and are
    # answered below. The common case, a new key, pays nothing for it.
    try:
        with transaction.atomic():
            order = _place(customer, cart_id, idempotency_key, fingerprint)
    except (CartNotFound, IntegrityError):
        # A concurrent request with the same key may have won: it took the cart (we then
        # find none) or inserted the key first (unique violation). Answer with its order.
        if idempotency_key:
            replay = _order_for_key(customer, idempotency_key, fingerprint)
            if replay:
                return Placement(replay, created=False)
        raise
    return Placement(order, created=True)


def _order_for_key(customer: Customer, key: str, fingerprint: str) -> Order | None:
    order = Order.objects.filter(customer=customer, idempotency_key=key).first()
    if order is not None and order.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(key)
    return order


def _place(customer: Customer, cart_id, idempotency_key: str | None, fingerprint: str) -> Order:
    try:
        # Locking the cart makes a double submit wait here; it then finds the cart gone.
        cart = Cart.objects.select_for_update().only("pk").get(pk=cart_id, customer=customer)
    except Cart.DoesNotExist:
        raise CartNotFound(cart_id) from None

    # The cart's lines with their products, the products locked in primary-key order
    # (concurrent checkouts of overlapping carts queue instead of deadlocking).
    lines = list(
        CartItem.objects.filter(cart=cart)
        .select_related("product")
        # NO KEY UPDATE: the row lock an UPDATE of non-key columns takes, which does not
        # block inserts that merely reference the product (order items, stock movements).
        .select_for_update(of=("product",), no_key=True)
        .order_by("product_id")
        .only("quantity", "product_id", *(f"product__{name}" for name in PRODUCT_FIELDS))
    )
    if not lines:
        raise CartEmpty(cart_id)
    wanted = {line.product_id: line.quantity for line in lines}
    products = {line.product_id: line.product for line in lines}
    _reserve_stock(wanted, products)

    total = sum(products[pid].price * qty for pid, qty in wanted.items())
    # pre_save decides whether this repeats a recent order (store.receivers). Identical
    # carts lock the same product rows above, so of two concurrent ones the second gets
    # here after the first committed, and sees it.
    order = Order.objects.create(
        customer=customer,
        total=total,
        idempotency_key=idempotency_key or None,
        request_fingerprint=fingerprint,
        lines_key=order_lines_key(wanted),
    )
    items = [
        OrderItem(
            order=order,
            product=products[pid],
            unit_price=products[pid].price,
            quantity=qty,
            crossed_low_stock=products[pid].available
            >= products[pid].low_stock_threshold
            > products[pid].available - qty,
        )
        for pid, qty in wanted.items()
    ]
    side_effects = [OrderSideEffect(order=order, kind=kind) for kind in OrderSideEffect.Kind.values]
    insert_rows(items)
    insert_rows(side_effects)
    # Its items, then the cart (nothing else refers to a cart; no delete signals).
    delete_rows(CartItem, cart_id=cart.pk)
    delete_rows(Cart, pk=cart.pk)
    attach_related(order, items=items, side_effects=side_effects)

    _send_robust_logged(order_created, f"order {order.pk}", sender=Order, order=order)
    return order


def order_lines_key(wanted: dict[int, int]) -> str:
    """The same products in the same quantities give the same key, whatever the order of
    the lines."""
    lines = ",".join(f"{pid}x{qty}" for pid, qty in sorted(wanted.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def order_duplicate_of(*, order: Order) -> int | None:
    """The customer's latest order with the same lines placed within the duplicate window
    before this new one, or None. One indexed query (customer, lines_key, placed_at).
    Called under the lines' product row locks (checkout): a concurrent identical order
    has committed by then."""
    if not order.lines_key:
        return None
    since = timezone.now() - timedelta(minutes=settings.SHOPFLOW_DUPLICATE_WINDOW_MINUTES)
    return selectors.order_latest_with_lines(
        customer_id=order.customer_id, lines_key=order.lines_key, since=since
    )


# --- Price history ---------------------------------------------------------------------

_price_author = contextvars.ContextVar("price_author", default=None)


@contextlib.contextmanager
def price_changes_by(user):
    """Price changes saved in this block are recorded as made by `user` (admin, the API);
    elsewhere (shell, imports) by no one."""
    token = _price_author.set(user if user is not None and user.is_authenticated else None)
    try:
        yield
    finally:
        _price_author.reset(token)


def price_change_record(*, product: Product, old_price, new_price) -> PriceChange:
    author = _price_author.get()
    change = PriceChange.objects.create(
        product=product, old_price=old_price, new_price=new_price, changed_by=author
    )
    logger.info(
        "price of product %s (%s) changed: %s -> %s by %s",
        product.pk,
        product.sku,
        old_price,
        new_price,
        author.get_username() if author else "(unknown)",
    )
    return change


def price_changes_record_updated(
    *, prices_before: dict[int, Decimal], using: str = "default"
) -> list[PriceChange]:
    """The price changes of rows updated in bulk (QuerySet.update, bulk_update), from
    their prices read under lock before the UPDATE, in its transaction; as many rows as
    the UPDATE took (ProductQuerySet.update chunks them)."""
    products = Product.objects.using(using).filter(pk__in=prices_before)
    return [
        price_change_record(
            product=product, old_price=prices_before[product.pk], new_price=product.price
        )
        for product in products.only("pk", "sku", "price")
        if prices_before[product.pk] != product.price
    ]


# What checkout reads of a product, under its row lock.
PRODUCT_FIELDS = ("sku", "name", "price", "on_hand", "reserved", "is_active", "low_stock_threshold")


def _reserve_stock(wanted: dict[int, int], products: dict[int, Product]) -> None:
    """Reserve `wanted` ({product_id: quantity}) of the locked `products`, or raise
    InsufficientStock.

    One conditional UPDATE whatever the cart's size: it adds each product's quantity
    where enough is available. The rows are locked already, so the check before it is
    exact; the condition keeps the UPDATE correct on its own. Fewer rows updated than
    products asked for means a shortage, and the caller's transaction rolls back.
    """
    shortages = _shortages(wanted, products)
    if shortages:
        raise InsufficientStock(shortages)

    if _stock_update(wanted, take=False) != len(wanted):
        current = {p.pk: p for p in Product.objects.filter(pk__in=wanted)}
        raise InsufficientStock(_shortages(wanted, current) or _unknown_shortage(wanted))


def _shortages(wanted: dict[int, int], products: dict[int, Product]) -> list[Shortage]:
    shortages = []
    for pid, qty in wanted.items():
        product = products.get(pid)
        available = product.available if product and product.is_active else 0
        if qty > available:
            shortages.append(
                Shortage(
                    product_id=pid,
                    sku=product.sku if product else "",
                    name=product.name if product else f"product {pid}",
                    requested=qty,
                    available=max(available, 0),
                )
            )
    return shortages


def _unknown_shortage(wanted: dict[int, int]) -> list[Shortage]:
    return [Shortage(pid, "", f"product {pid}", qty, 0) for pid, qty in wanted.items()]


def _send_robust_logged(signal, subject: str, **named) -> None:
    """send_robust, logging each receiver that raised with its traceback, its name and
    what the signal was about; the caller goes on."""
    for receiver, result in signal.send_robust(**named):
        if isinstance(result, Exception):
            logger.error(
                "%s receiver %s failed for %s: %s",
                signal.name,
                _receiver_name(receiver),
                subject,
                result,
                exc_info=result,
            )


def _receiver_name(receiver) -> str:
    return f"{getattr(receiver, '__module__', '?')}.{getattr(receiver, '__qualname__', receiver)}"


# --- Side effects and inventory ---------------------------------------------------------


def order_side_effect_mark(*, order_id: int, kind: str, status: str, error: str = "") -> None:
    """Record where one side effect of an order stands. A done effect stays done: a late
    failure report of an earlier attempt must not overwrite a later success. Pending again
    (a dead letter put back) means a new deadline, and the re-drives start over."""
    rows = OrderSideEffect.objects.filter(order_id=order_id, kind=kind)
    if status != OrderSideEffect.Status.DONE:
        rows = rows.exclude(status=OrderSideEffect.Status.DONE)
    changes = {"status": status, "error": error[:2000], "updated_at": timezone.now()}
    if status == OrderSideEffect.Status.PENDING:
        changes.update(deadline=side_effect_deadline(), redrives=0)
    if status != OrderSideEffect.Status.FAILED:
        rows.update(**changes)
        return
    with transaction.atomic():
        # Only a side effect that was not failed already: one alert per failure.
        newly_failed = rows.exclude(status=OrderSideEffect.Status.FAILED).update(**changes)
        if not newly_failed:
            rows.update(**changes)  # failed again: the latest error
        else:
            _send_robust_logged(
                side_effect_failed,
                f"order {order_id} {kind}",
                sender=OrderSideEffect,
                order_id=order_id,
                kind=kind,
                error=changes["error"],
            )


def order_side_effect_postpone(*, order_id: int, kind: str, seconds: float) -> None:
    """A retry of the side effect's task is due in `seconds`: the reconciler leaves it
    alone until that retry has had its chance."""
    deadline = timezone.now() + timedelta(
        seconds=seconds + settings.SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS
    )
    OrderSideEffect.objects.filter(
        order_id=order_id, kind=kind, status=OrderSideEffect.Status.PENDING
    ).update(deadline=deadline)


def side_effects_reconcile(*, limit: int = 500) -> dict[str, int]:
    """Re-drive side effects still pending past their deadline, whatever kept them: a
    message the broker lost or never delivered, a worker killed mid-task, a receiver that
    raised before enqueueing, an outbox row gone. Their task is enqueued again through the
    outbox (tasks are idempotent: a side effect that was only slow is not applied twice)
    and the deadline moves on. One re-driven SHOPFLOW_SIDE_EFFECT_MAX_REDRIVES times
    already is failed and dead-lettered instead, for a person to look at (the dead
    letter's requeue sets it back to pending). Returns {"redriven": n, "failed": n}."""
    from worker.dead_letters import dead_letter_record

    from .side_effects import side_effect_task_names

    tasks = side_effect_task_names()
    most = settings.SHOPFLOW_SIDE_EFFECT_MAX_REDRIVES
    now = timezone.now()
    with transaction.atomic():
        stuck = list(
            # Rows a task holds right now (an inventory batch) are left for the next round.
            OrderSideEffect.objects.select_for_update(skip_locked=True)
            .filter(status=OrderSideEffect.Status.PENDING, deadline__lt=now)
            .order_by("deadline")
            .only("pk", "order_id", "kind", "redrives", "deadline")[:limit]
        )
        redrive = [effect for effect in stuck if effect.redrives < most]
        give_up = [effect for effect in stuck if effect.redrives >= most]
        with outbox.batch():
            for effect in redrive:
                outbox.enqueue(tasks[effect.kind], effect.order_id)
                logger.warning(
                    "reconciler: order %s %s still pending %s past its deadline; "
                    "re-driving it (%s of %s)",
                    effect.order_id,
                    effect.kind,
                    now - effect.deadline,
                    effect.redrives + 1,
                    most,
                )
        OrderSideEffect.objects.filter(pk__in=[effect.pk for effect in redrive]).update(
            redrives=F("redrives") + 1, deadline=side_effect_deadline(), updated_at=now
        )
        for effect in give_up:
            error = f"still pending after {effect.redrives} re-drives by the reconciler"
            logger.error("reconciler: order %s %s %s; failed", effect.order_id, effect.kind, error)
            dead_letter_record(
                task_id="",
                task_name=tasks[effect.kind],
                args=[effect.order_id],
                kwargs={},
                queue="",
                exception=f"SideEffectStuck: {error}",
                traceback="",
                attempts=effect.redrives + 1,
            )
            order_side_effect_mark(
                order_id=effect.order_id,
                kind=effect.kind,
                status=OrderSideEffect.Status.FAILED,
                error=error,
            )
    return {"redriven": len(redrive), "failed": len(give_up)}


def order_side_effects_mark_done(*, order_ids: list[int], kind: str) -> None:
    """Every side-effect task ends here: one UPDATE, written out (lib.db)."""
    update_rows(
        OrderSideEffect,
        values={"status": OrderSideEffect.Status.DONE, "error": "", "updated_at": timezone.now()},
        order_id__in=order_ids,
        kind=kind,
    )


def inventory_apply_order(*, order_id: int) -> bool:
    """Move an order's reserved units out of stock on hand, once; True when this call
    applied them (False: an earlier or a concurrent delivery did).

    Orders whose inventory side effect is pending beside this one are applied in the same
    statements (up to SHOPFLOW_SIDE_EFFECT_BATCH_SIZE). One transaction: the batch's side
    effects locked (rows another delivery holds are left to it), a ledger row per order
    item (unique: nothing is ever applied twice), one UPDATE for all the products, the side
    effects marked done, and stock_low sent for products whose reservation by an order took
    them below their threshold (decided at checkout, see OrderItem). Raises
    Order.DoesNotExist for an unknown order.
    """
    with transaction.atomic():
        status, due = selectors.side_effects_due(
            kind=OrderSideEffect.Kind.INVENTORY,
            order_id=order_id,
            limit=settings.SHOPFLOW_SIDE_EFFECT_BATCH_SIZE,
            lock=True,
        )
        if (
            status is None
            and not OrderSideEffect.objects.filter(
                order_id=order_id, kind=OrderSideEffect.Kind.INVENTORY
            ).exists()
        ):
            raise Order.DoesNotExist(f"order {order_id} does not exist")
        if not due:
            return False
        # The ledger, not the status, says what was applied: a side effect set back to
        # pending (a dead letter re-enqueued) applies only what is still missing.
        items = selectors.order_items_unapplied(order_ids=due)
        if items:
            _inventory_move(items)
        order_side_effects_mark_done(order_ids=due, kind=OrderSideEffect.Kind.INVENTORY)
        crossed = [item for item in items if item.crossed_low_stock]
        if crossed:
            products = Product.objects.in_bulk({item.product_id for item in crossed})
            for item in crossed:
                product = products[item.product_id]
                _send_robust_logged(
                    stock_low,
                    f"product {product.pk}",
                    sender=Product,
                    product=product,
                    order_id=item.order_id,
                    available=product.available,
                )
    return order_id in due


def _inventory_move(items: list[OrderItem]) -> None:
    """The ledger rows and the stock UPDATE for these order items."""
    moved: dict[int, int] = {}
    for item in items:
        moved[item.product_id] = moved.get(item.product_id, 0) + item.quantity
    if len(moved) > 1:
        # Lock the rows in primary-key order first, as checkout does: an UPDATE over several
        # rows takes their locks in whatever order it meets them.
        selectors.products_lock(product_ids=sorted(moved))
    insert_rows(
        [
            StockMovement(product_id=item.product_id, order_item=item, delta=-item.quantity)
            for item in items
        ]
    )
    _stock_update(moved, take=True)


def _stock_update(quantities: dict[int, int], *, take: bool) -> int:
    """One UPDATE of the products in `quantities` ({product_id: quantity}), written out
    (checkout and every inventory task run it; see lib.db). `take`: the units leave stock
    on hand and the reservation. Otherwise they are reserved where the product is active
    and has them available. Returns how many products were updated."""
    ids = list(quantities)
    if len(ids) == 1:
        amount = [quantities[ids[0]]]
    else:  # CASE id WHEN ... THEN ...
        amount = [value for pid in ids for value in (pid, quantities[pid])]
    params = [*amount, *amount, *ids] if take else [*amount, *ids, True, *amount]
    with connection.cursor() as cursor:
        cursor.execute(_stock_update_sql(connection.vendor, len(ids), take), params)
        return cursor.rowcount


@functools.lru_cache(maxsize=64)
def _stock_update_sql(vendor: str, count: int, take: bool) -> str:
    quote = connection.ops.quote_name
    table, pk = quote(Product._meta.db_table), quote(Product._meta.pk.column)
    if count == 1:  # most carts
        amount, rows = "%s", f"{pk} = %s"
    else:
        amount = f"CASE {pk} {' '.join(['WHEN %s THEN %s'] * count)} END"
        rows = f"{pk} IN ({placeholders(count)})"
    if take:
        return (
            f"UPDATE {table} SET on_hand = on_hand - {amount}, "
            f"reserved = reserved - {amount} WHERE {rows}"
        )
    return (
        f"UPDATE {table} SET reserved = reserved + {amount} "
        f"WHERE {rows} AND is_active = %s AND on_hand >= reserved + {amount}"
    )
