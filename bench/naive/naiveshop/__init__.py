"""The design users would build instead of Shopflow, as tutorials write it: a checkout in
one transaction, then three receivers that each do
`transaction.on_commit(lambda: task.delay(order.pk))`. The benchmark's baseline; it shares
no code with Shopflow's apps."""

from .celery import app as celery_app

__all__ = ["celery_app"]
