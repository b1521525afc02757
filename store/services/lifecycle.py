"""An order's life after its checkout: cancelled (its customer or staff) or fulfilled
(staff), never both. Each change locks the order's row, so of a cancel and a fulfil that
race the second sees the first and is refused; asked again, it changes nothing. Its
consequences are side effects of the order (side_effects.registry, opened in the change's
transaction) and the receivers of order_cancelled or order_fulfilled."""

from django.db import transaction
from django.utils import timezone

from core.signals import send_robust_isolated
from side_effects.services import side_effects_open

from .. import locks
from ..exceptions import OrderNotCancellable, OrderNotFound, OrderNotFulfillable
from ..models import Order
from ..signals import order_cancelled, order_fulfilled

Status = Order.Status


def order_cancel(*, order_id: int, user, reason: str = "") -> Order:
    """Cancel the order: its customer's or, for staff, any. OrderNotFound when it is not
    theirs; OrderNotCancellable once fulfilled; a cancelled one is left as it is."""
    return _order_change(
        order_id=order_id,
        user=user,
        to=Status.CANCELLED,
        refused={Status.FULFILLED: OrderNotCancellable},
        changes={"cancelled_at": timezone.now(), "cancel_reason": reason},
        signal=order_cancelled,
    )


def order_fulfil(*, order_id: int, tracking_number: str = "") -> Order:
    """Fulfil the order (staff: the caller checks). OrderNotFulfillable once cancelled; a
    fulfilled one is left as it is."""
    return _order_change(
        order_id=order_id,
        user=None,
        to=Status.FULFILLED,
        refused={Status.CANCELLED: OrderNotFulfillable},
        changes={"fulfilled_at": timezone.now(), "tracking_number": tracking_number},
        signal=order_fulfilled,
    )


def _order_change(*, order_id, user, to, refused, changes, signal) -> Order:
    with transaction.atomic():
        order = locks.order_for_update(order_id=order_id, user=user).first()
        if order is None:
            raise OrderNotFound(order_id)
        if order.status in refused:
            raise refused[order.status]()
        if order.status == to:
            return order
        order.status = to
        for field, value in changes.items():
            setattr(order, field, value)
        order.save(update_fields=["status", *changes])
        side_effects_open(order=order, on=to)
        send_robust_isolated(
            signal, sender=Order, about=f"order {to}, order {order.pk}", order=order
        )
    return order
