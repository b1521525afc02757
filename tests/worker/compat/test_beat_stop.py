"""Celery's beat closes its scheduler inside its SIGTERM handler (the canary of
worker.compat.beat_stop): the database's work done in the middle of whatever statement
the signal interrupted. Ours only ends beat's loop. The behaviour, with a real beat whose
statement waits: tests/e2e/test_beat.py."""

import signal

import pytest
from celery.apps.beat import Beat

from worker.celery import app
from worker.compat.beat_stop import beat_stop_install


class Service:
    """What beat's handler is given: its sync closes the scheduler."""

    def __init__(self):
        self.synced = 0

    def sync(self):
        self.synced += 1


@pytest.fixture
def service():
    saved = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    service = Service()
    Beat(app=app, quiet=True).install_sync_handler(service)
    yield service
    for number, handler in saved.items():
        signal.signal(number, handler)


def sigterm_handled() -> None:
    with pytest.raises(SystemExit):
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)


def test_celerys_beat_closes_its_scheduler_inside_its_sigterm_handler(service):
    sigterm_handled()

    # 0 once Celery leaves the close to beat's loop: then worker.compat.beat_stop goes.
    assert service.synced == 1


def test_ours_leaves_the_close_to_beats_loop(service):
    beat_stop_install()

    sigterm_handled()

    assert service.synced == 0
