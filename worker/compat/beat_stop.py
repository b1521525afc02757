"""Beat stopped by SIGTERM or SIGINT ends its tick's statement, then closes its scheduler,
instead of closing it inside the signal handler.

Works around celery/apps/beat.py, `Beat.install_sync_handler` (Celery 5.7.0:
https://github.com/celery/celery/blob/v5.7.0/celery/apps/beat.py; no upstream issue yet):
its handler closes the scheduler right there, in the main thread the signal interrupted.
For a database scheduler that is statements on the connection the interrupted tick may be
using (renewing the lease, writing an entry's last run): psycopg's connection lock is
held by the interrupted statement, so the handler's waits for it for ever. Beat then
never exits: a rollout's SIGTERM waits out the pod's grace until SIGKILL, and the lease
lapses (30 s) instead of being let go; `docker compose down` waits out its timeout.

Installed when beat starts (Celery's `beat_init` signal, after Celery's own handler),
this handler only raises SystemExit, as Celery's does after its close: psycopg cancels
the statement in flight and leaves the connection usable, beat's loop ends, and its
`finally` closes the scheduler (the same sync and lease release) outside the handler.
No private attribute is read; what is replaced is Celery's choice of handler.

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
