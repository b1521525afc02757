"""What each test process owns when pytest-xdist runs the suite in several (`make test`):
its PostgreSQL database (pytest-django names it after the process, config.settings.test
after the checkout), its Redis server (tests/conftest.py), its ports (from the OS,
tests.support.processes) and its temporary directories. What cannot be split, one process
at a time: the machine's RabbitMQ (a test stops it), the compose stack (its published
ports), the hosts' bed (a module's fixture). And what the fast tier may not do: start a
process."""

import contextlib
import os
import sys

import pytest

# Tests that must run in one process, one after the other (xdist's loadgroup).
ONE_AT_A_TIME_ON_RABBITMQ = pytest.mark.xdist_group("rabbitmq")


class ProcessStarted(RuntimeError):
    pass


_forbidden = _hooked = False
# Python's audit events of every way a process starts (an audit hook stays for good: it
# is added once and acts only while `_forbidden` is set).
_STARTS = {"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.system"}


def _refuse(event: str, args: tuple) -> None:
    if _forbidden and event in _STARTS and not _is_redis(event, args):
        raise ProcessStarted(
            f"a fast-tier test started a process ({event} {args[:2]!r}): mark it "
            "`pytest.mark.slow` (make test runs it, make test-fast does not)"
        )


def _is_redis(event: str, args: tuple) -> bool:
    """A Redis server of the test's own (tests.support.brokers.RedisServer): the fast tier
    has Redis."""
    if event != "subprocess.Popen":
        return False
    executable = args[0] or (args[1][0] if args[1] else "")
    return os.path.basename(os.fsdecode(executable)) == "redis-server"


@contextlib.contextmanager
def processes_forbidden():
    global _forbidden, _hooked
    if not _hooked:
        sys.addaudithook(_refuse)
        _hooked = True
    _forbidden = True
    try:
        yield
    finally:
        _forbidden = False
