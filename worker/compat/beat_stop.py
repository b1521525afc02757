"""Beat stopped by SIGTERM or SIGINT ends its tick's statement, then closes its scheduler,
instead of closing it inside the signal handler.

Works around celery/apps/beat.py, `Beat.install_sync_handler` (Celery 5.7.0:
https://github.com/celery/celery/blob/v5.7.0/celery/apps/beat.py; no upstream issue yet):
its handler closes the scheduler in the main thread the signal interrupted, with
statements on the connection whose lock the interrupted statement holds: it waits for ever,
beat never exits, and its lease lapses instead of being let go. Installed at `beat_init`,
after Celery's own, this handler only raises SystemExit: psycopg cancels the statement in
flight, and beat's loop closes the scheduler in its `finally`, outside the handler. No
private attribute is read; what is replaced is Celery's choice of handler.

Canary: tests/worker/compat/test_beat_stop.py, whose test of Celery's own handler fails
once it no longer closes the scheduler inside itself; then this module goes (and
worker.celery's receiver). The behaviour: tests/e2e/test_beat.py."""

import signal

from . import version_guard

version_guard("celery", checked=("5.7.0", "5.8"), patch=__name__)


def _stop(signum, frame):
    raise SystemExit()


def beat_stop_install() -> None:
    """SIGTERM and SIGINT end beat between statements (call it in the beat process)."""
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
