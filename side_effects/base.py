"""SideEffectTask: the base of the tasks that perform an order's side effects.

Everything such a task needs besides its one call to a service lives here and in
worker's ReliableTask: a missing order (ReliableTask: logged, nothing to do), failed for
good (marked failed), a retry scheduled (the reconciler waits for it), a dead letter put
back (pending again). "Done" is marked by each service, in the transaction of the effect
itself (services.side_effects_mark_done), so it never claims work that rolled back."""

import logging

from worker.tasks_base import ReliableTask

from . import services

logger = logging.getLogger(__name__)


class SideEffectTask(ReliableTask):
    """Tasks whose first argument is an order id and that perform one kind of side effect.

    Declare with `@shared_task(base=SideEffectTask, side_effect="<kind>", ...)` and
    register the task in the app's ready() (side_effects.registry.register).
    """

    abstract = True
    side_effect: str = ""

    def on_retry_scheduled(self, *, countdown, args, kwargs) -> None:
        order_id = self._order_id(args, kwargs)
        if order_id is not None:
            services.side_effect_postpone(
                order_id=order_id, kind=self.side_effect, seconds=countdown
            )

    def on_dead_letter(self, *, exc, args, kwargs) -> None:
        order_id = self._order_id(args, kwargs)
        if order_id is not None:
            services.side_effect_mark_failed(
                order_id=order_id, kind=self.side_effect, error=f"{type(exc).__name__}: {exc}"
            )

    def on_requeue(self, *, args, kwargs) -> None:
        order_id = self._order_id(args, kwargs)
        if order_id is not None:
            services.side_effect_mark_pending(order_id=order_id, kind=self.side_effect)

    def _order_id(self, args, kwargs) -> int | None:
        order_id = kwargs.get("order_id", args[0] if args else None)
        try:
            return int(order_id)
        except (TypeError, ValueError):
            logger.error("%s: no order id in args=%r kwargs=%r", self.name, args, kwargs)
            return None
