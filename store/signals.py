import contextlib
import logging

from django.db import connection, transaction
from django.dispatch import Signal

from worker import outbox

logger = logging.getLogger(__name__)


class ReceiverSQLOutsideSavepoint(RuntimeError):
    """A receiver ran SQL in the sender's transaction without a savepoint of its own."""


class IsolatedSignal(Signal):
    """A signal sent inside a database transaction whose receivers cannot harm the sender.

    `send_robust` runs the receivers inside one `outbox.batch()`: what they enqueue is
    written in one INSERT after the last receiver and published together after commit. A
    receiver that raises is reported (send_robust's contract) and what it had enqueued is
    dropped, so it leaves nothing behind, and the other receivers go on.

    Most receivers only enqueue and need no savepoint. One that reads or writes the
    database must do it inside its own `transaction.atomic()` block (a savepoint): on
    PostgreSQL a failed statement aborts the whole transaction, which here is the sender's.
    SQL run outside such a block is refused before it reaches the database, and reported
    like any other receiver error. Only synchronous receivers.
    """

    def __init__(self, name: str):
        super().__init__()
        self.name = name  # for log lines about failing receivers

    def connect(self, receiver, sender=None, weak=True, dispatch_uid=None):
        from asgiref.sync import iscoroutinefunction

        if iscoroutinefunction(receiver):
            raise TypeError(f"{self!r} accepts only synchronous receivers")
        super().connect(receiver, sender=sender, weak=weak, dispatch_uid=dispatch_uid)

    def send_robust(self, sender, **named):
        responses = []
        sync_receivers, _ = self._live_receivers(sender)
        in_transaction = connection.in_atomic_block
        guard = _SavepointGuard(depth=len(connection.savepoint_ids))
        with outbox.batch() as batch:
            for receiver in sync_receivers:
                mark = batch.mark()
                guard.receiver = receiver
                try:
                    with connection.execute_wrapper(guard) if in_transaction else _nothing():
                        response = receiver(signal=self, sender=sender, **named)
                except Exception as err:
                    batch.discard_since(mark)
                    if in_transaction:
                        # None of the receiver's statements reached the database outside
                        # a savepoint of its own (the guard refused them first), so the
                        # sender's transaction is intact, whatever Django marked on the
                        # way out.
                        transaction.set_rollback(False)
                    responses.append((receiver, err))
                else:
                    responses.append((receiver, response))
        return responses


_nothing = contextlib.nullcontext
SAVEPOINT_STATEMENTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


class _SavepointGuard:
    """Refuses SQL that a receiver runs at the sender's savepoint depth."""

    def __init__(self, depth: int):
        self.depth = depth
        self.receiver = None

    def __call__(self, execute, sql, params, many, context):
        own_savepoints = [sid for sid in context["connection"].savepoint_ids[self.depth :] if sid]
        # Django runs the savepoint statements themselves while the id is not in the list
        # (before recording it, after popping it).
        if not own_savepoints and not sql.startswith(SAVEPOINT_STATEMENTS):
            raise ReceiverSQLOutsideSavepoint(
                f"{getattr(self.receiver, '__qualname__', self.receiver)} ran SQL in the "
                "sender's transaction: wrap it in transaction.atomic(), or enqueue a task"
            )
        return execute(sql, params, many, context)


# Sent inside the checkout transaction, once the order, its items and the stock
# reservation are written. Arguments: order (store.models.Order).
order_created = IsolatedSignal("order_created")

# Sent by the inventory task when applying an order takes a product's available stock
# below its threshold. Arguments: product (store.models.Product), order_id, available.
stock_low = IsolatedSignal("stock_low")

# Sent when one of an order's side effects is marked failed for good (its task's retries
# ran out, or the reconciler gave up on it), in the transaction that marks it. Arguments:
# order_id, kind (OrderSideEffect.Kind), error.
side_effect_failed = IsolatedSignal("side_effect_failed")
