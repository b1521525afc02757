from celery import shared_task

from . import jobs
from .tasks_base import job_tasks


@shared_task(name="worker.prune_jobs")
def prune_jobs() -> int:
    return jobs.jobs_prune(kinds_kept_days={k: t.keep_days for k, t in job_tasks().items()})
