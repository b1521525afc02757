"""The clocks tests set. In this process: core.clock.monotonic, the one clock of the
windows a process measures alone, stepped by the test (SteppedClock, the `monotonic_clock`
fixture). In a process a test starts: a wall clock that runs ahead of this machine's, as
a host's does without NTP (or a VM's resumed from a pause): Debian's libfaketime
preloaded into it (CI installs the `faketime` package). Only the wall clock moves (time(),
gettimeofday(), CLOCK_REALTIME: what the process logs, Django's timezone.now(), kombu's
time()); its monotonic clock, its sleeps and timeouts are the machine's. Or a process
whose clock starts at a given moment (just before a DST change). And how far ahead a
process's clock is, read off the timestamps of its log."""

import glob
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.parts import part_missing

# Debian's path for libfaketime, per architecture (x86_64-linux-gnu, aarch64-linux-gnu ...).
LIBFAKETIME = "/usr/lib/*/faketime/libfaketime.so.1"
# tests/support/faketime_site/sitecustomize.py: a `time.sleep` that this libfaketime passes.
SITE_DIR = Path(__file__).resolve().parent / "faketime_site"
# Celery's log lines begin "[2026-11-25 16:35:20,771: INFO/MainProcess]" (CELERY_WORKER_*).
LOG_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): ", re.MULTILINE)


def libfaketime() -> str:
    """The library's path; the test is skipped (failed in CI) without it."""
    found = sorted(glob.glob(LIBFAKETIME))
    if not found:
        part_missing("needs Debian's libfaketime: apt-get install faketime (CI installs it)")
    return found[0]


def clock_ahead_env(env: dict[str, str], seconds: int) -> dict[str, str]:
    """`env` for a process whose wall clock runs `seconds` ahead of this machine's.

    FAKETIME_DONT_FAKE_MONOTONIC: libfaketime 0.9.10 (Debian 12's) moves CLOCK_MONOTONIC
    too, but not the deadline of sem_clockwait(), on which Python 3.11 times every wait on
    a lock (threading.Event.wait, queue.get): each of those would hang. With it, its
    clock_nanosleep() breaks Python's `time.sleep` instead (EINVAL), which SITE_DIR's
    sitecustomize mends."""
    return {
        **env,
        "LD_PRELOAD": " ".join(filter(None, [libfaketime(), env.get("LD_PRELOAD", "")])),
        "FAKETIME": f"+{seconds}s",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SITE_DIR), env.get("PYTHONPATH", "")])),
    }


def clock_from_env(env: dict[str, str], start: datetime) -> dict[str, str]:
    """`env` for a process whose wall clock reads `start` (aware) as it starts, then runs
    at the machine's pace: libfaketime's absolute form, read in TZ, here UTC (Django sets
    TZ to TIME_ZONE once loaded). Its "x" rate (a clock running faster) does not work in
    that libfaketime, so a test starts the process just before the moment it is about."""
    return {
        **clock_ahead_env(env, 0),
        "FAKETIME": start.astimezone(UTC).strftime("@%Y-%m-%d %H:%M:%S"),
        "TZ": "UTC",
    }


def log_time(stamp: str) -> datetime:
    """A Celery log line's stamp (LOG_STAMP's group) as the time it reads: local, naive."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")


def log_times(log: str) -> list[datetime]:
    """When each stamped line of the log was written, in order, as log_time reads it."""
    times = [log_time(stamp) for stamp in LOG_STAMP.findall(log)]
    assert times, f"no timestamped line in the log:\n{log[-2000:]}"
    return times


def log_clock_ahead(log: str) -> float:
    """Seconds by which the clock that stamped the log's latest line runs ahead of this
    process's, read just after that line was written (a service's "ready" line, read as
    ServiceProcess.start returns): less the time since, a fraction of a second."""
    return log_times(log)[-1].timestamp() - datetime.now().timestamp()


class SteppedClock:
    """core.clock.monotonic as a test sets it: still until the test advances it."""

    def __init__(self, start: float = 1_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SteppedWallClock:
    """django.utils.timezone.now as a test sets it (the `wall_clock` fixture): still at
    `now` until the test sets or advances it. Every timezone.now() reads it, and so do
    auto_now fields; a field whose default is timezone.now itself (a user's date_joined)
    took the real function at import, and keeps the machine's time."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
