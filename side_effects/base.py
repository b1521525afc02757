"""SideEffectTask: the base of the tasks that perform one kind of side effect for a list of
orders.

    @shared_task(base=SideEffectTask, side_effect="inventory", name="store.apply_inventory")
    def apply_inventory(order_ids: list[int]) -> list[int]:
        return stock.inventory_apply(order_ids=order_ids)

The relay gives a message the ids of every order pending for the task, up to `batch_max`
(worker.outbox): one when the shop is quiet, many when it is busy. The service does them
together, marking each one done in the transaction of its work (so "done" never claims
work that rolled back), and returns the ids it did. Each order still succeeds or fails on
its own:

- the batch raises: each order is tried alone; an order that fails again is retried alone
  (transient errors, with backoff) or dead-lettered and marked failed alone;
- the batch's worker died under it (the broker delivers it again): each order goes out in
  a message of its own, so the order that kills its worker is the only one that fails
  (ReliableTask's redelivery limit), and the others are done;
- a hard time limit killed it: the same.

One order is worker's ReliableTask as it is: retries, dead letter, redelivery limit."""

import logging
import time
import traceback

from celery.exceptions import Reject, TimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

from worker.outbox import publish_each_now, retry_enqueue
from worker.tasks_base import CONTROL_EXCEPTIONS, ReliableTask, is_transient

from . import services

logger = logging.getLogger(__name__)


class SideEffectTask(ReliableTask):
    """Declare with `@shared_task(base=SideEffectTask, side_effect="<kind>", ...)` and
    register the task in the app's ready() (side_effects.registry.register)."""

    abstract = True
    side_effect: str = ""

    @property
    def batch_max(self) -> int:
        """The most orders the relay puts in one message of this task."""
        return settings.SHOPFLOW_SIDE_EFFECT_BATCH_SIZE

    def __call__(self, order_ids):
        ids = order_ids if isinstance(order_ids, list) else [order_ids]  # an old message: one id
        if len(ids) < 2 or self.request.called_directly:
            return super().__call__(ids)
        if self.delivered_before():
            return self._each_apart(ids, why="its worker was lost")
        started = time.monotonic()
        try:
            return self.run(ids)
        except CONTROL_EXCEPTIONS:
            raise
        except Exception as exc:
            logger.warning("%s of %s failed; each order alone", self.name, ids, exc_info=True)
            failed = (exc, traceback.format_exc())
        return self._each_alone(ids, started=started, batch_failed=failed)

    def _each_alone(self, ids: list[int], *, started: float, batch_failed) -> list[int]:
        """Do each order on its own; retry or give up on those that fail, each alone. No
        order starts alone past half the soft time limit, so that one started then still
        ends within the time limit (an email is cut at 30 s): a worker holds a message no
        longer than a task may run, whatever its pool (the email worker's threads enforce
        no limit), which the broker's visibility timeout is sized to. The orders not come
        to go out again at once, their retries untouched (they did not fail); if the
        batch's own failure used the time up, _batch_failed_late decides."""
        done, failures, untried = [], [], []
        for n, order_id in enumerate(ids):
            if time.monotonic() - started > settings.CELERY_TASK_SOFT_TIME_LIMIT / 2:
                if n == 0:
                    return self._batch_failed_late(ids, batch_failed[0])
                untried = ids[n:]
                break
            try:
                done += self.run([order_id])
            except CONTROL_EXCEPTIONS:
                raise
            except ObjectDoesNotExist as exc:
                logger.warning("%s([%s]): %s; nothing to do", self.name, order_id, exc)
            except Exception as exc:
                failures.append((order_id, exc, traceback.format_exc()))
        if untried:
            self._again_now(untried)
        limit = self.retry_limit()
        retry = []
        for order_id, exc, traceback_text in failures:
            if is_transient(exc) and self.request.retries < limit:
                retry.append((order_id, exc))
            else:
                self._give_up(exc, [[order_id]], {}, traceback_text=traceback_text)
        if retry:
            self._retry_later(retry[0][1], limit, args=[[order_id for order_id, _ in retry]])
        return done

    def _batch_failed_late(self, ids: list[int], exc: Exception) -> list[int]:
        """The batch failed with no time left to try an order alone. A transient failure
        is every order's retry (counted, with backoff). Any other may be one order's fault
        (a recipient the mail server refuses for good), so it fails no order: each goes out
        in a message of its own, to succeed or fail alone."""
        limit = self.retry_limit()
        if is_transient(exc) and self.request.retries < limit:
            self._retry_later(exc, limit, args=[ids])
        return self._each_apart(ids, why=f"it failed ({exc!r}) with no time left for each alone")

    def _again_now(self, ids: list[int]) -> None:
        """These orders in a message of their own, due now, under this task's id and retry
        count. Should the database refuse, this message goes back to its queue."""
        logger.warning("%s: the run's time was up before %s; again now", self.name, ids)
        try:
            retry_enqueue(
                self,
                task_id=self.request.id,
                args=[ids],
                kwargs={},
                retries=self.request.retries,
                countdown=0,
            )
        except Exception as exc:
            raise Reject(exc, requeue=True) from exc

    def _each_apart(self, ids: list[int], *, why: str) -> list[int]:
        """Each order again, in a message of its own. Should the broker refuse, this
        message goes back to its queue (it is not acknowledged into the void)."""
        logger.warning("%s of %s: %s; each order in a message of its own", self.name, ids, why)
        try:
            publish_each_now(self, [[[order_id]] for order_id in ids])
        except Exception as exc:
            raise Reject(exc, requeue=True) from exc
        return []

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        ids = _order_ids(args, kwargs)
        if not (isinstance(exc, TimeLimitExceeded) and len(ids) > 1):
            super().on_failure(exc, task_id, args, kwargs, einfo)
            return
        try:
            self._each_apart(ids, why="the hard time limit killed it")
        except Reject:
            # Celery acknowledges a timed-out message: the reconciler re-drives these.
            logger.exception("%s of %s: could not send each order apart", self.name, ids)

    def on_retry_scheduled(self, *, countdown, args, kwargs) -> None:
        services.side_effects_postpone(
            order_ids=_order_ids(args, kwargs), kind=self.side_effect, seconds=countdown
        )

    def on_dead_letter(self, *, exc, args, kwargs) -> None:
        for order_id in _order_ids(args, kwargs):
            services.side_effect_mark_failed(
                order_id=order_id, kind=self.side_effect, error=f"{type(exc).__name__}: {exc}"
            )

    def on_requeue(self, *, args, kwargs) -> None:
        services.side_effects_mark_pending(
            order_ids=_order_ids(args, kwargs), kind=self.side_effect
        )


def _order_ids(args, kwargs) -> list[int]:
    """The order ids a message of a side-effect task carries: a list, or one id (messages
    and dead letters of the shape before batches)."""
    value = kwargs.get("order_ids", kwargs.get("order_id", args[0] if args else None))
    try:
        return [int(order_id) for order_id in (value if isinstance(value, list) else [value])]
    except (TypeError, ValueError):
        logger.error("no order ids in args=%r kwargs=%r", args, kwargs)
        return []
