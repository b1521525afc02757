import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)


class IsolatedSignal(Signal):
    """A signal whose send_robust runs each receiver in its own savepoint.

    send_robust already keeps one receiver's exception from stopping the others, but on
    PostgreSQL a failed statement inside a receiver aborts the whole transaction it runs
    in, which here is the checkout's. The savepoint rolls back just that receiver's work.
    Only synchronous receivers: this signal is sent inside a database transaction.
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
        for receiver in sync_receivers:
            try:
                with transaction.atomic():
                    response = receiver(signal=self, sender=sender, **named)
            except Exception as err:
                responses.append((receiver, err))
            else:
                responses.append((receiver, response))
        return responses


# Sent inside the checkout transaction, once the order, its items and the stock
# reservation are written. Arguments: order (store.models.Order).
order_created = IsolatedSignal("order_created")

# Sent by the inventory task when applying an order takes a product's available stock
# below its threshold. Arguments: product (store.models.Product), order_id, available.
stock_low = IsolatedSignal("stock_low")
