import pytest

from tests.support.echo_jobs import echo_kind
from tests.support.signals import signals_sent
from worker.signals import job_failed


@pytest.fixture
def echo_task():
    """The tests' own kind of job (tests.support.echo_jobs), registered for the test."""
    with echo_kind() as task:
        yield task


@pytest.fixture
def failures():
    """The job_failed signals sent: (kind, key, error)."""
    with signals_sent(job_failed, "kind", "key", "error", uid="tests.worker.failures") as sent:
        yield sent
