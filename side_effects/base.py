"""SideEffectTask: the base of the tasks that perform one kind of side effect.

    @shared_task(base=SideEffectTask, side_effect="inventory", name="store.apply_inventory")
    def apply_inventory(order_id: int) -> bool:
        return stock.inventory_apply(order_id=order_id)

The task is written for one order. A message carries a list of order ids: the relay gives
it every order pending for the task, up to `batch_max` (worker.outbox), one when the shop
is quiet, many when it is busy (fewer messages, events and acknowledgements). The base
runs the task for each order in turn, in one loop, and each order ends on its own:

- before its work, the order's attempt is counted in its side-effect row, committed
  (side_effect_attempt_start);
- done: its service marked it done in the transaction of its work;
- a transient error: a retry of that order alone, waiting in the outbox (`not_before`);
- anything else, or past the last retry: that order's dead letter, marked failed.

A message the worker did not finish (its process died, the hard time limit) goes back to
its queue and resumes where it stopped: the orders it ended are skipped, and the one in
flight, whose attempt was counted and lost, goes out in a message of its own, so that the
others do not wait on it. An order whose last attempts all lost their worker (killed,
frozen, cut off, past the hard time limit) is the poison one, failed and dead-lettered
alone. The loop starts no order past the run budget (worker.tasks_base.last_start_by):
the rest go back to the outbox, due now."""

import logging
import time
import traceback
import uuid

from celery.exceptions import Reject
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import InterfaceError, OperationalError, connection

from worker.tasks_base import (
    CONTROL_EXCEPTIONS,
    REQUEUE_PAUSE_SECONDS,
    ReliableTask,
    is_transient,
    last_start_by,
)

from . import services
from .services import Attempt

logger = logging.getLogger(__name__)


class SideEffectTask(ReliableTask):
    """Declare with `@shared_task(base=SideEffectTask, side_effect="<kind>", ...)` and
    register the task in the app's ready() (side_effects.registry.register)."""

    abstract = True
    side_effect: str = ""
    # Past the hard time limit the message goes back to its queue (Celery's own option):
    # the order in flight has its attempt counted, the others are not lost.
    acks_on_timeout = False

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
        budget_ends = last_start_by()
        done = []
        for n, order_id in enumerate(order_ids):
            if n and time.monotonic() > budget_ends:
                logger.warning("%s: the run's time was up before %s", self.name, order_ids[n:])
                self._retry_orders(order_ids[n:], countdown=0, retries=self.request.retries)
                break
            if self._one(order_id, alone=len(order_ids) == 1):
                done.append(order_id)
        return done

    def _one(self, order_id, *, alone: bool) -> bool:
        try:
            order_id = int(order_id)  # a malformed id is that order's failure for good
            attempt = services.side_effect_attempt_start(
                order_id=order_id,
                kind=self.side_effect,
                message_id=self.request.id or "",
                alone=alone,
            )
            if attempt is Attempt.LOST_BEFORE:
                logger.warning(
                    "%s(%s): its last attempt lost its worker; alone", self.name, order_id
                )
                self._retry_orders([order_id], countdown=0, retries=self.request.retries)
            if attempt is not Attempt.COUNTED:
                return False
            return bool(self.run(order_id))
        except CONTROL_EXCEPTIONS:
            raise
        except ObjectDoesNotExist as exc:
            logger.warning("%s(%s): %s; nothing to do", self.name, order_id, exc)
            return False
        except Exception as exc:
            if self.request.called_directly:
                raise
            if _link_lost(exc):
                # The database is out of reach: no retry or dead letter can be written there,
                # and trying waits out another timeout. The message goes back to its queue
                # after the usual pause, well within the time limit.
                logger.warning("%s(%s): the database is out of reach: %r", self.name, order_id, exc)
                connection.close()
                time.sleep(REQUEUE_PAUSE_SECONDS)
                raise Reject(repr(exc), requeue=True) from None
            retries, limit = self.request.retries, self.retry_limit()
            if is_transient(exc) and retries < limit:
                countdown = self._retry_countdown(exc)
                logger.warning(
                    "%s(%s): transient error, retry %s/%s in %ss: %r",
                    *(self.name, order_id, retries + 1, limit, countdown, exc),
                )
                self._retry_orders(
                    [order_id], countdown=countdown, retries=retries + 1, attempt_ended=True
                )
            else:
                self._give_up(exc, [[order_id]], {}, traceback_text=traceback.format_exc())
            return False

    def _retry_orders(
        self, order_ids: list, *, countdown: float, retries: int, attempt_ended: bool = False
    ) -> None:
        """These orders again, in a message of their own from the outbox, due in
        `countdown` seconds, their deadline moved past it; ended by this message's run."""
        ids = [int(order_id) for order_id in order_ids]
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

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """Nothing to record: a message past the hard time limit goes back to its queue
        (acks_on_timeout), and its orders' attempts are counted in their rows."""

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


def _link_lost(exc: Exception) -> bool:
    """Whether `exc` lost this thread's database connection (psycopg's own `broken`)."""
    if not isinstance(exc, OperationalError | InterfaceError) or connection.in_atomic_block:
        return False
    link = connection.connection
    return link is None or link.closed or link.broken


def _order_ids(args) -> list[int]:
    """The order ids a message (or dead letter) of a side-effect task carries."""
    try:
        return [int(order_id) for order_id in args[0]]
    except (IndexError, TypeError, ValueError):
        logger.error("no order ids in args=%r", args)
        return []
