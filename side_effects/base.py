"""SideEffectTask: the base of the tasks that perform one kind of side effect.

    @shared_task(base=SideEffectTask, side_effect="inventory", name="store.apply_inventory")
    def apply_inventory(order_id: int) -> bool:
        return stock.inventory_apply(order_id=order_id)

The task is written for one order. A message carries a list of order ids: the relay gives
it every order pending for the task, up to `batch_max` (worker.outbox), one when the shop
is quiet, many when it is busy (fewer messages, events and acknowledgements). The base
runs the task for each order in turn, in one loop, and each order ends on its own:

- before its work, the order's attempt is counted in its side-effect row, committed
  (side_effect_attempt_start): an order whose earlier attempts all lost their worker
  (killed, frozen, cut off, past the hard time limit) is the poison one, failed and
  dead-lettered alone, while the others go on;
- done: its service marked it done in the transaction of its work;
- a transient error: a retry of that order alone, waiting in the outbox (`not_before`);
- anything else, or past the last retry: that order's dead letter, marked failed.

A message the worker did not finish (its process died, the hard time limit) goes back to
its queue and resumes where it stopped: the orders done are done, the one in flight has
its attempt counted. The loop starts no order past the run budget
(worker.tasks_base.last_start_by): the rest go back to the outbox, due now."""

import logging
import time
import traceback
import uuid

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

from worker.tasks_base import CONTROL_EXCEPTIONS, ReliableTask, is_transient, last_start_by

from . import services

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
        budget_ends = last_start_by()
        done = []
        for n, order_id in enumerate(order_ids):
            if n and time.monotonic() > budget_ends:
                self._retry_orders(order_ids[n:], countdown=0, retries=self.request.retries)
                logger.warning(
                    "%s: the run's time was up before %s; again now", self.name, order_ids[n:]
                )
                break
            if self._one(order_id):
                done.append(order_id)
        return done

    def _one(self, order_id) -> bool:
        kind = self.side_effect
        try:
            order_id = int(order_id)  # a malformed id is that order's failure for good
            if not services.side_effect_attempt_start(order_id=order_id, kind=kind):
                return False  # done already, or no such order
            return bool(self.run(order_id))
        except CONTROL_EXCEPTIONS:
            raise
        except ObjectDoesNotExist as exc:
            logger.warning("%s(%s): %s; nothing to do", self.name, order_id, exc)
            return False
        except Exception as exc:
            if self.request.called_directly:
                raise
            retries, limit = self.request.retries, self.retry_limit()
            if is_transient(exc) and retries < limit:
                countdown = self._retry_countdown(exc)
                logger.warning(
                    "%s(%s): transient error, retry %s/%s in %ss: %r",
                    *(self.name, order_id, retries + 1, limit, countdown, exc),
                )
                self._retry_orders([order_id], countdown=countdown, retries=retries + 1)
            else:
                self._give_up(exc, [[order_id]], {}, traceback_text=traceback.format_exc())
            return False

    def _retry_orders(self, order_ids: list[int], *, countdown: float, retries: int) -> None:
        """These orders again, in the outbox, due in `countdown` seconds (their deadline
        moved past it)."""
        self._retry_record(
            task_id=str(uuid.uuid4()),
            args=[list(order_ids)],
            kwargs={},
            retries=retries,
            countdown=countdown,
        )

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """Nothing to record: a message past the hard time limit goes back to its queue
        (acks_on_timeout), and its orders' attempts are counted in their rows."""

    def on_retry_scheduled(self, *, countdown, args, kwargs) -> None:
        services.side_effects_postpone(order_ids=args[0], kind=self.side_effect, seconds=countdown)

    def on_dead_letter(self, *, exc, args, kwargs) -> None:
        for order_id in _order_ids(args):
            services.side_effect_mark_failed(
                order_id=order_id, kind=self.side_effect, error=f"{type(exc).__name__}: {exc}"
            )

    def on_requeue(self, *, args, kwargs) -> None:
        services.side_effects_mark_pending(order_ids=_order_ids(args), kind=self.side_effect)


def _order_ids(args) -> list[int]:
    """The order ids a message (or dead letter) of a side-effect task carries."""
    try:
        return [int(order_id) for order_id in args[0]]
    except (IndexError, TypeError, ValueError):
        logger.error("no order ids in args=%r", args)
        return []
