"""SideEffectTask: the base of the tasks that perform one kind of side effect.

    @shared_task(base=SideEffectTask, side_effect="inventory", name="store.apply_inventory")
    def apply_inventory(order_id: int) -> bool:
        return stock.inventory_apply(order_id=order_id)

The task is written for one order; a message carries a list of order ids, up to
`batch_max` (fewer messages when the shop is busy), and the base runs the task for each in
turn, each order counted, done, retried or failed on its own, so that one bad order never
fails another: docs/architecture.md, "Messages that carry many orders"."""

import logging
import traceback
import uuid

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

from core import clock
from worker.tasks_base import (
    CONTROL_EXCEPTIONS,
    ReliableTask,
    last_start_by,
)

from . import metrics, services
from .exceptions import SideEffectLost
from .services import Attempt

logger = logging.getLogger(__name__)


class SideEffectTask(ReliableTask):
    """Declare with `@shared_task(base=SideEffectTask, side_effect="<kind>", ...)` and
    register the task in the app's ready() (side_effects.registry.register)."""

    side_effect: str = ""

    @property
    def batch_max(self) -> int:
        """The most orders the relay puts in one message of this task."""
        return settings.SHOPFLOW_SIDE_EFFECT_BATCH_SIZE

    def __call__(self, order_ids: list[int]) -> list[int]:
        """Each order of the message in turn; the ids of those this run did."""
        if not isinstance(order_ids, list):
            exc = TypeError(f"a side-effect message carries a list of order ids, not {order_ids!r}")
            self._give_up(exc, [order_ids], {}, traceback_text="")
            return []
        ids = []
        for order_id in order_ids:
            try:
                ids.append(int(order_id))
            except (TypeError, ValueError) as exc:  # that order's failure for good
                self._give_up(exc, [[order_id]], {}, traceback_text="")
        ids = list(dict.fromkeys(ids))  # an order named twice runs once
        budget_ends = last_start_by()
        try:
            attempts = services.side_effects_attempt_start(
                order_ids=ids, kind=self.side_effect, message_id=self.request.id or ""
            )
        except Exception as exc:
            self._ended_by(exc, ids, attempt_ended=False)
            return []
        done, late, ran = [], [], False
        for order_id in ids:
            attempt, opened_at = attempts[order_id]
            if attempt is Attempt.LOST_BEFORE:
                logger.warning(
                    "%s(%s): its last attempt lost its worker; alone", self.name, order_id
                )
                self._retry_orders([order_id], countdown=0, retries=self.request.retries)
            elif attempt is Attempt.POISON:
                most = settings.SHOPFLOW_TASK_MAX_REDELIVERIES + 1
                exc = SideEffectLost(f"{most} attempts lost their worker before they ended")
                self._give_up(exc, [[order_id]], {}, traceback_text="")
            elif attempt is Attempt.COUNTED and ran and clock.monotonic() > budget_ends:
                late.append(order_id)
            elif attempt is Attempt.COUNTED:
                ran = True
                if self._one(order_id):
                    done.append(order_id)
                    metrics.lag_observe_on_commit(kind=self.side_effect, opened_at=opened_at)
        if late:
            logger.warning("%s: the run's time was up before %s", self.name, late)
            self._retry_orders(late, countdown=0, retries=self.request.retries, attempt_ended=True)
        return done

    def _one(self, order_id: int) -> bool:
        try:
            return bool(self.run(order_id))
        except CONTROL_EXCEPTIONS:
            raise
        except ObjectDoesNotExist as exc:
            logger.warning("%s(%s): %s; nothing to do", self.name, order_id, exc)
            return False
        except Exception as exc:
            self._ended_by(exc, [order_id], attempt_ended=True)
            return False

    def _ended_by(self, exc: Exception, order_ids: list[int], *, attempt_ended: bool) -> None:
        """These orders' run failed with `exc`: a retry of theirs, or their dead letter."""
        if self.request.called_directly:
            raise exc
        ids = ", ".join(str(order_id) for order_id in order_ids)
        countdown = self._retry_due(exc, about=f"({ids})")
        if countdown is not None:
            retries = self.request.retries + 1
            self._retry_orders(
                order_ids, countdown=countdown, retries=retries, attempt_ended=attempt_ended
            )
        else:
            traceback_text = "".join(traceback.format_exception(exc))
            for order_id in order_ids:
                self._give_up(exc, [[order_id]], {}, traceback_text=traceback_text)

    def _retry_orders(
        self, ids: list[int], *, countdown: float, retries: int, attempt_ended: bool = False
    ) -> None:
        """These orders again, in a message of their own from the outbox, due in
        `countdown` seconds, their deadline moved past it; ended by this message's run."""
        self._retry_record(
            task_id=str(uuid.uuid4()),
            args=[ids],
            kwargs={},
            retries=retries,
            countdown=countdown,
            then=lambda: services.side_effects_postpone(
                order_ids=ids,
                kind=self.side_effect,
                seconds=countdown,
                ended_in=self.request.id or "",
                attempt_ended=attempt_ended,
            ),
        )

    def on_dead_letter(self, *, exc, args, kwargs) -> None:
        for order_id in _order_ids(args):
            services.side_effect_mark_failed(
                order_id=order_id,
                kind=self.side_effect,
                error=f"{type(exc).__name__}: {exc}",
                ended_in=self.request.id or "",
            )

    def on_requeue(self, *, args, kwargs) -> None:
        services.side_effects_mark_pending(order_ids=_order_ids(args), kind=self.side_effect)


def _order_ids(args) -> list[int]:
    """The order ids a message (or dead letter) of a side-effect task carries: none unless
    it carries a list (a string or a mapping would name the orders of its characters or
    keys)."""
    carried = args[0] if args else None
    try:
        if isinstance(carried, list):
            return [int(order_id) for order_id in carried]
    except (TypeError, ValueError):
        pass
    logger.error("no order ids in args=%r", args)
    return []
