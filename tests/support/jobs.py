"""Jobs (worker.jobs) as tests read and run them: an order's side effects, a kind's due
jobs run in this process as a woken worker would run them."""

from django.db.models import QuerySet

from side_effects import registry
from worker.models import Job
from worker.tasks_base import job_tasks


def order_jobs(order_id=None) -> QuerySet[Job]:
    """The side-effect jobs of an order (of every order when None)."""
    jobs = Job.objects.filter(kind__in=registry.kinds())
    return jobs if order_id is None else jobs.filter(key=str(order_id))


def side_effect_status(order_id, kind: str) -> str:
    return Job.objects.get(kind=kind, key=str(order_id)).status


def jobs_run(kind: str, *, runs: int = 1) -> list[str]:
    """Run `kind`'s task `runs` times here (eagerly, as a woken worker runs it: it claims
    what is due); the keys done."""
    task = job_tasks()[kind]
    done: list[str] = []
    for _ in range(runs):
        done += task.apply().get() or []
    return done
