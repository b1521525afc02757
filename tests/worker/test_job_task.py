"""JobTask, a kind's task (worker.tasks_base): a run claims up to its batch, runs each key
and ends each job on its own, telling its kind (attempt_ended); a job that loses its
worker at every attempt fails. The tests' own kind (tests.support.echo_jobs); the side
effects' runs: tests/side_effects/test_batches.py."""

import uuid

import pytest

from tests.support.echo_jobs import ECHO, ECHO_KIND, echo_jobs, lease_lapse
from tests.support.echo_jobs import echo_job as job
from worker.models import Job

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


class WorkerDied(BaseException):
    """Stands for the worker's process dying in the job's function."""


def test_a_run_claims_up_to_its_batch_and_runs_each_key(echo_task):
    echo_jobs(*range(1, 7))

    assert echo_task.apply().get() == ["1", "2", "3", "4"]

    assert ECHO["ran"] == ["1", "2", "3", "4"]
    assert sorted(Job.objects.values_list("key", "status")) == [
        ("1", "done"),
        ("2", "done"),
        ("3", "done"),
        ("4", "done"),
        ("5", "pending"),
        ("6", "pending"),
    ]


def test_the_task_called_with_a_key_runs_its_function_alone_no_job_touched(echo_task):
    echo_jobs(1)

    assert echo_task("1") == "1"

    assert (job(1).status, job(1).attempts) == ("pending", 0)


def test_a_job_that_loses_its_worker_every_time_fails_after_its_last_attempt(
    echo_task, settings, failures
):
    """Each attempt kills its worker (its lease lapses, never ended): the job runs
    max_attempts times, alone from the second, then fails at its next claim, unrun."""
    settings.SHOPFLOW_TASK_MAX_RETRIES = 2  # 3 attempts
    echo_jobs("poison", "other")
    ECHO["errors"]["poison"] = WorkerDied()
    for _ in range(echo_task.max_attempts):
        with pytest.raises(WorkerDied):
            echo_task()
        lease_lapse("poison")

    assert echo_task() == []

    assert ECHO["ran"] == ["poison"] * 3
    poison = job("poison")
    assert poison.status == "failed"
    assert poison.last_error == "its 3 attempts all lost their worker before they ended"
    assert failures == [(ECHO_KIND, "poison", poison.last_error)]
    # The first run's other job went back unstarted, its attempt not counted.
    assert (job("other").status, job("other").attempts) == ("pending", 0)


@pytest.fixture
def heard(echo_task, monkeypatch):
    """The ends the kind is told of (JobTask.attempt_ended): (key, outcome, error's type)."""
    ends = []

    def attempt_ended(*, job, outcome, result, error):
        ends.append((job.key, outcome, type(error).__name__ if error else None))

    monkeypatch.setattr(echo_task, "attempt_ended", attempt_ended)
    return ends


def test_the_kind_is_told_of_each_attempts_end(echo_task, heard):
    echo_jobs(1, 2, 3)
    ECHO["errors"].update({"2": ConnectionError("later"), "3": ValueError("never")})

    assert echo_task() == ["1"]

    assert heard == [
        ("1", "done", None),
        ("2", "retry", "ConnectionError"),
        ("3", "failed", "ValueError"),
    ]


def test_a_job_failed_for_losing_its_worker_every_time_is_told_to_its_kind(
    echo_task, heard, settings
):
    """Its kind's own record of the failure (a webhook delivery's: staff told) is written
    as for any other failure."""
    settings.SHOPFLOW_TASK_MAX_RETRIES = 0  # one attempt
    echo_jobs("poison", attempts=1, lease_id=uuid.uuid4())
    lease_lapse("poison")

    assert echo_task() == []

    assert job("poison").status == "failed"
    assert heard == [("poison", "failed", None)]
