"""The task base for an order's side effects: a failure for good marks it failed."""

import logging

from worker.tasks_base import ReliableTask

from .models import OrderSideEffect
from .services import order_side_effect_mark

logger = logging.getLogger(__name__)


class OrderSideEffectTask(ReliableTask):
    """Tasks whose first argument is an order id and that perform one OrderSideEffect.

    Declare with `@shared_task(base=OrderSideEffectTask, side_effect=<kind>)`.
    """

    abstract = True
    side_effect: str = ""

    def on_dead_letter(self, *, exc, args, kwargs) -> None:
        self._mark(args, kwargs, OrderSideEffect.Status.FAILED, f"{type(exc).__name__}: {exc}")

    def on_requeue(self, *, args, kwargs) -> None:
        self._mark(args, kwargs, OrderSideEffect.Status.PENDING, "")

    def _mark(self, args, kwargs, status: str, error: str) -> None:
        order_id = kwargs.get("order_id", args[0] if args else None)
        try:
            order_id = int(order_id)
        except (TypeError, ValueError):
            logger.error("%s: no order id in args=%r kwargs=%r", self.name, args, kwargs)
            return
        order_side_effect_mark(order_id=order_id, kind=self.side_effect, status=status, error=error)
