"""Tasks that only the tests' worker subprocesses load (WorkerProcess(include=...)).

The project app's alone (shared=False). A shared task sent from a test process goes
through the current app. pytest-celery's session app becomes that once a test has used
the in-process worker, and that worker would then run these in the test process
(kills_its_worker would kill it)."""

import os
import signal
import time
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded

from worker.celery import app
from worker.tasks_base import JobTask

# A kind of job of the tests' own: the test process's dispatcher (dispatcher_thread) wakes
# it, as it imports this module too; `manage.py dispatch` does not know it.
OUTLIVES_ITS_TIME_LIMIT = "tests_outlives_its_time_limit"
# Its own limits: a wake-up carries its sender's (Celery stamps the task's limits on the
# message), and the sender here is the test process, whose settings are the suite's.
HARD_LIMIT_SECONDS = 3


@app.task(
    shared=False,
    base=JobTask,
    kind=OUTLIVES_ITS_TIME_LIMIT,
    name="tests.outlives_its_time_limit",
    time_limit=HARD_LIMIT_SECONDS,
    soft_time_limit=HARD_LIMIT_SECONDS - 1,
)
def outlives_its_time_limit(key: str) -> None:
    """A run that does not end: it ignores its soft time limit until the hard one kills
    its pool process. Its key is a file that counts its runs."""
    with Path(key).open("a") as runs:
        runs.write("run\n")
    while True:
        try:
            time.sleep(60)  # a fixed wait is the point: only the hard time limit ends it
        except SoftTimeLimitExceeded:
            continue


@app.task(shared=False, name="tests.sleeps")
def sleeps(seconds: float, marker: str) -> None:
    """Keeps a pool process (or thread) busy; the marker says it has started."""
    Path(marker).write_text("started")
    time.sleep(seconds)  # a fixed wait is the point: the task holds its pool slot this long


@app.task(shared=False, name="tests.kills_its_worker")
def kills_its_worker(runs: str) -> None:
    """A plain task (not a job) that kills its pool process every time, as an
    out-of-memory kill of it would. `runs` is a file that counts its runs."""
    with Path(runs).open("a") as counted:
        counted.write("run\n")
    os.kill(os.getpid(), signal.SIGKILL)
