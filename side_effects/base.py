"""SideEffectTask: the task of one kind of an order's side effect, a kind of job
(worker.jobs) keyed by the order's id:

    @shared_task(base=SideEffectTask, kind="inventory", atomic=True, name="store.apply_inventory")
    def apply_inventory(key: str) -> bool:
        return stock.inventory_apply(order_id=int(key))

Registered in the owning app's ready() (side_effects.registry.register), so that the API
shows it on every order."""

from django.conf import settings

from worker.tasks_base import JobTask

from . import metrics


class SideEffectTask(JobTask):
    keep_days = None  # an order's side effects are its history: the API shows them

    @property
    def batch(self) -> int:
        """The most orders one run of this task claims."""
        return settings.SHOPFLOW_SIDE_EFFECT_BATCH_SIZE

    def job_ended(self, *, job, result) -> None:
        metrics.lag_observe_on_commit(kind=self.kind, opened_at=job.created_at)
