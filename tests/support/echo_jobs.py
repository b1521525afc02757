"""A kind of job of the tests' own (`test_echo`): a JobTask whose function the test steers
(ECHO), registered with the app only while a test holds it (`echo_kind`): the dispatcher
iterates job_tasks(), and the routing and schedule tests read every task the app has."""

import contextlib

from django.db.models.functions import Now

from core.clock import db_now
from worker.celery import app
from worker.models import Job
from worker.tasks_base import JobTask

ECHO_KIND, ECHO_NAME = "test_echo", "tests.echo"

# What the kind's function does: {key: the exception it raises}; and the keys it ran.
ECHO: dict = {"errors": {}, "ran": []}


def echo(key: str) -> str:
    ECHO["ran"].append(key)
    if (error := ECHO["errors"].get(key)) is not None:
        raise error
    return key


@contextlib.contextmanager
def echo_kind():
    """The kind's task (batch 4, on the default queue), known to job_tasks() for the
    block; ECHO reset."""
    ECHO["errors"], ECHO["ran"] = {}, []
    task = app.task(
        base=JobTask, kind=ECHO_KIND, name=ECHO_NAME, batch=4, shared=False, lazy=False
    )(echo)
    try:
        yield task
    finally:
        app.tasks.unregister(ECHO_NAME)


def echo_jobs(*keys, **fields) -> list[Job]:
    """Jobs of the kind about `keys`, due now (the database's clock), with `fields`."""
    return Job.objects.bulk_create(
        [Job(kind=ECHO_KIND, key=str(key), due_at=Now(), **fields) for key in keys]
    )


def echo_job(key) -> Job:
    return Job.objects.get(kind=ECHO_KIND, key=str(key))


def lease_lapse(key) -> None:
    """The attempt holding `key` lost its worker: its lease ran out (the database's clock)."""
    Job.objects.filter(kind=ECHO_KIND, key=str(key)).update(leased_until=db_now(plus_seconds=-1))
