"""Stock: reserved at checkout, moved out of stock on hand by the inventory side effect,
given back by a cancel's release, adjusted by staff. Every change is one UPDATE relative
to the row (F expressions): never a stale absolute value that would undo a sale or a
reservation made meanwhile."""

from django.db import transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone

from core.signals import send_robust_isolated

from .. import locks, selectors
from ..exceptions import InsufficientStock, Shortage, StockAdjustmentRefused
from ..models import Order, OrderItem, Product, StockMovement
from ..signals import low_stock

INVENTORY = "inventory"  # the side effect kinds (store.apps registers their tasks)
STOCK_RELEASE = "stock_release"


def stock_reserve(*, wanted: dict[int, int], products: dict[int, Product]) -> None:
    """Reserve `wanted` ({product_id: quantity}) of the locked `products`, or raise
    InsufficientStock: one conditional UPDATE whatever the cart's size. Fewer rows than
    products means a shortage (the caller's transaction rolls back what it reserved);
    the rows are locked, so `products` tells which."""
    quantity = _per_product(wanted)
    reserved = Product.objects.filter(
        pk__in=wanted, is_active=True, on_hand__gte=F("reserved") + quantity
    ).update(reserved=F("reserved") + quantity, updated_at=timezone.now())
    if reserved != len(wanted):
        raise InsufficientStock(_shortages(wanted, products))


def product_stock_adjust(*, product_id: int, delta: int) -> Product:
    """Add `delta` units to stock on hand (negative to correct a count). Raises
    StockAdjustmentRefused if on hand would drop below what is reserved."""
    updated = Product.objects.filter(pk=product_id, on_hand__gte=F("reserved") - delta).update(
        on_hand=F("on_hand") + delta, updated_at=timezone.now()
    )
    if not updated:
        raise StockAdjustmentRefused(product_id)
    return Product.objects.get(pk=product_id)


def inventory_apply(*, order_id: int) -> bool:
    """Move this order's reserved units out of stock on hand, once; False when an earlier
    attempt did, or the order is cancelled (its release gives the reservation back). One
    transaction (the job's, when its task runs it): a ledger row per order item (unique:
    nothing is applied twice), one UPDATE, and low_stock for the items that crossed their
    threshold at checkout (OrderItem)."""
    # No savepoint: inside a caller's transaction, a failure here fails all of it.
    with transaction.atomic(savepoint=False):
        # The ledger says what was applied: a re-driven job applies only what is missing.
        items = selectors.order_items_unapplied(order_id=order_id)
        if items and items[0].order.status == Order.Status.CANCELLED:
            return False
        if items:
            _stock_take(items)
        _low_stock_send([item for item in items if item.crossed_low_stock])
    return bool(items)


def _stock_take(items: list[OrderItem]) -> None:
    """The ledger rows and the stock UPDATE for these order items."""
    moved: dict[int, int] = {}
    for item in items:
        moved[item.product_id] = moved.get(item.product_id, 0) + item.quantity
    if len(moved) > 1:
        # An UPDATE over several rows takes their locks in whatever order it meets them:
        # lock them in primary-key order first, as checkout does.
        list(locks.products_for_update(product_ids=moved))
    StockMovement.objects.bulk_create(
        [StockMovement(product_id=i.product_id, order_item=i, delta=-i.quantity) for i in items]
    )
    quantity = _per_product(moved)
    Product.objects.filter(pk__in=moved).update(
        on_hand=F("on_hand") - quantity,
        reserved=F("reserved") - quantity,
        updated_at=timezone.now(),
    )


def stock_release(*, order_id: int) -> bool:
    """Give a cancelled order's units back, once; False when an earlier attempt did. An
    item its inventory task moved goes back on hand; one it never will (it sees the order
    cancelled) gives its reservation back. One transaction, a ledger row per item."""
    with transaction.atomic(savepoint=False):
        items = selectors.order_items_unreleased(order_id=order_id)
        if not items:
            return False
        list(locks.products_for_update(product_ids={item.product_id for item in items}))
        StockMovement.objects.bulk_create(
            StockMovement(
                product_id=item.product_id,
                order_item=item,
                delta=item.quantity if item.sold else 0,
                reason=StockMovement.Reason.RELEASE,
            )
            for item in items
        )
        sold = {item.product_id: item.quantity for item in items if item.sold}
        reserved = {item.product_id: item.quantity for item in items if not item.sold}
        now = timezone.now()
        if sold:
            Product.objects.filter(pk__in=sold).update(
                on_hand=F("on_hand") + _per_product(sold), updated_at=now
            )
        if reserved:
            Product.objects.filter(pk__in=reserved).update(
                reserved=F("reserved") - _per_product(reserved), updated_at=now
            )
    return True


def _low_stock_send(items: list[OrderItem]) -> None:
    products = Product.objects.in_bulk({item.product_id for item in items}) if items else {}
    for item in items:
        product = products[item.product_id]
        send_robust_isolated(
            low_stock,
            sender=Product,
            about=f"low_stock, product {product.pk}",
            product=product,
            order_id=item.order_id,
            available=product.available,
        )


def _per_product(quantities: dict[int, int]):
    """Each product's quantity, as an expression for one UPDATE of them all: one branch
    per distinct quantity (a batch's products mostly share a few), not per product."""
    products_by_quantity: dict[int, list[int]] = {}
    for pid, qty in quantities.items():
        products_by_quantity.setdefault(qty, []).append(pid)
    if len(products_by_quantity) == 1:
        return Value(next(iter(products_by_quantity)))
    return Case(
        *(When(pk__in=pids, then=Value(qty)) for qty, pids in products_by_quantity.items()),
        output_field=IntegerField(),
    )


def _shortages(wanted: dict[int, int], products: dict[int, Product]) -> list[Shortage]:
    shortages = []
    for pid, qty in wanted.items():
        product = products[pid]
        available = product.available if product.is_active else 0
        if qty > available:
            shortages.append(
                Shortage(
                    product_id=pid,
                    sku=product.sku,
                    name=product.name,
                    requested=qty,
                    available=available,
                )
            )
    return shortages
