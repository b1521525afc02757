import os

from celery import Celery, signals

from core.env import settings_module
from worker.leases import LeaseKeeper

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())

app = Celery("shopflow")
# All Celery settings live in Django settings, prefixed CELERY_.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["consumer"].add(LeaseKeeper)


@signals.task_prerun.connect
@signals.task_postrun.connect
def close_old_connections(task=None, **kwargs):
    """Keep database connections across tasks, as Django keeps them across requests: close
    only those past CONN_MAX_AGE or broken by an error. Celery's Django fixup would close
    every connection before and after every task (a new PostgreSQL backend each time);
    CELERY_DB_REUSE_MAX in the settings stands it down."""
    if task is not None and task.request.is_eager:
        return  # an eager task runs in its caller's transaction: leave it alone
    from django.db import close_old_connections

    close_old_connections()
