"""The task base for an order's side effects, and which task performs which kind.

Everything a side-effect task needs besides its one call to a service lives here and in
ReliableTask: a missing order (ReliableTask: logged, nothing to do), failed for good
(marked failed), a retry scheduled (the reconciler waits for it), a dead letter put back
(pending again). "Done" is marked by each service, in the transaction of the effect
itself, so it never claims work that rolled back."""

import logging

from worker.tasks_base import ReliableTask

from .models import OrderSideEffect
from .services import order_side_effect_mark, order_side_effect_postpone

logger = logging.getLogger(__name__)


class OrderSideEffectTask(ReliableTask):
    """Tasks whose first argument is an order id and that perform one OrderSideEffect.

    Declare with `@shared_task(base=OrderSideEffectTask, side_effect=<kind>)`.
    """

    abstract = True
    side_effect: str = ""

    def on_retry_scheduled(self, *, countdown, args, kwargs) -> None:
        order_id = self._order_id(args, kwargs)
        if order_id is not None:
            order_side_effect_postpone(order_id=order_id, kind=self.side_effect, seconds=countdown)

    def on_dead_letter(self, *, exc, args, kwargs) -> None:
        self._mark(args, kwargs, OrderSideEffect.Status.FAILED, f"{type(exc).__name__}: {exc}")

    def on_requeue(self, *, args, kwargs) -> None:
        self._mark(args, kwargs, OrderSideEffect.Status.PENDING, "")

    def _mark(self, args, kwargs, status: str, error: str) -> None:
        order_id = self._order_id(args, kwargs)
        if order_id is not None:
            order_side_effect_mark(
                order_id=order_id, kind=self.side_effect, status=status, error=error
            )

    def _order_id(self, args, kwargs) -> int | None:
        order_id = kwargs.get("order_id", args[0] if args else None)
        try:
            return int(order_id)
        except (TypeError, ValueError):
            logger.error("%s: no order id in args=%r kwargs=%r", self.name, args, kwargs)
            return None


def side_effect_task_names() -> dict[str, str]:
    """{side effect kind: name of the task that performs it}: the tasks declared with
    OrderSideEffectTask, wherever they live (the reconciler re-drives through these)."""
    from django.utils.module_loading import autodiscover_modules

    from worker.celery import app

    autodiscover_modules("tasks")  # every app's tasks module (a worker has them already)
    return {
        str(task.side_effect): name
        for name, task in app.tasks.items()
        if isinstance(task, OrderSideEffectTask) and task.side_effect
    }
