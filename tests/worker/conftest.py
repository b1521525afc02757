import pytest

from tests.support.echo_jobs import echo_kind
from worker.signals import job_failed


@pytest.fixture
def echo_task():
    """The tests' own kind of job (tests.support.echo_jobs), registered for the test."""
    with echo_kind() as task:
        yield task


@pytest.fixture
def failures():
    """The job_failed signals sent: (kind, key, error)."""
    sent = []

    def receiver(sender, kind, key, error, **kwargs):
        sent.append((kind, key, error))

    job_failed.connect(receiver, weak=False, dispatch_uid="tests.worker.failures")
    try:
        yield sent
    finally:
        job_failed.disconnect(dispatch_uid="tests.worker.failures")
