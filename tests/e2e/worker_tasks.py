"""Tasks that only the tests' worker subprocesses load (WorkerProcess(include=...))."""

import os
import signal
import time
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from worker.tasks_base import ReliableTask


@shared_task(base=ReliableTask, name="tests.kills_its_own_process")
def kills_its_own_process(marker: str) -> None:
    """A poison message: every delivery kills the pool process that runs it."""
    with Path(marker).open("a") as runs:
        runs.write("run\n")
    os.kill(os.getpid(), signal.SIGKILL)


@shared_task(base=ReliableTask, name="tests.outlives_its_time_limit")
def outlives_its_time_limit(marker: str) -> None:
    """A run that does not end: it ignores its soft time limit until the hard one kills
    its pool process."""
    with Path(marker).open("a") as runs:
        runs.write("run\n")
    while True:
        try:
            time.sleep(60)  # a fixed wait is the point: only the hard time limit ends it
        except SoftTimeLimitExceeded:
            continue


@shared_task(name="tests.sleeps")
def sleeps(seconds: float, marker: str) -> None:
    """Keeps a pool process (or thread) busy; the marker says it has started."""
    Path(marker).write_text("started")
    time.sleep(seconds)  # a fixed wait is the point: the task holds its pool slot this long
