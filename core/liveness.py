"""Liveness of the processes that serve no HTTP (Celery workers, beat, the dispatcher):
a file whose modification time is when the process's heartbeat lapses, moved
forward from the loop that does its work; `python -m core.liveness` exits 1 once it lapsed
(docs/operations.md, "Health"). SHOPFLOW_LIVENESS_FILE names it; unset, nothing is written
(`make run`, where runstack watches its children)."""

import os
import sys
import time

from core.env import env_float, refuse

# Read here, not from Django's settings: the probe imports no Django.
ALIVE_SECONDS = env_float("SHOPFLOW_LIVENESS_SECONDS", 60.0)
if ALIVE_SECONDS <= 0:
    refuse("SHOPFLOW_LIVENESS_SECONDS", str(ALIVE_SECONDS), "a number of seconds above 0")
# A mark is a system call: made at most this often, whatever the loop's pace.
MARK_EVERY_SECONDS = min(5.0, ALIVE_SECONDS / 6)
# How long a heartbeat lasts while the process waits on purpose: its start-up, which may
# wait for the broker (Celery retries a first connection for minutes), and a worker's
# reconnection. One that has not moved on by then is restarted.
WAITING_SECONDS = max(15 * 60.0, ALIVE_SECONDS)

_marked_at = 0.0


def liveness_file() -> str:
    return os.environ.get("SHOPFLOW_LIVENESS_FILE", "").strip()


def liveness_heartbeat(*, seconds: float = ALIVE_SECONDS) -> None:
    """Mark this process alive for `seconds` from now (rate-limited to one write every
    MARK_EVERY_SECONDS unless it marks a longer time). Never raises: a file that cannot be
    written only makes the probe fail, which is what it is for."""
    global _marked_at
    path = liveness_file()
    now = time.time()
    if not path or (seconds <= ALIVE_SECONDS and now - _marked_at < MARK_EVERY_SECONDS):
        return
    try:
        with open(path, "a"):
            pass
        os.utime(path, (now + seconds, now + seconds))
    except OSError as error:
        sys.stderr.write(f"liveness: cannot write {path}: {error}\n")
        return
    _marked_at = now if seconds <= ALIVE_SECONDS else 0.0


def liveness_check(path: str) -> str:
    """ "" while the process's heartbeat holds, else why not (one line)."""
    if not path:
        return "SHOPFLOW_LIVENESS_FILE is not set."
    try:
        until = os.stat(path).st_mtime
    except OSError:
        return f"{path} was never written: the process has not started its loop."
    late = time.time() - until
    if late > 0:
        return f"{path} lapsed {late:.0f} s ago: the process's loop is stuck."
    return ""


if __name__ == "__main__":
    problem = liveness_check(liveness_file())
    if problem:
        sys.stderr.write(f"not alive: {problem}\n")
    raise SystemExit(1 if problem else 0)
