"""What each test process owns when pytest-xdist runs the suite in several (`make test`):
its PostgreSQL database (pytest-django names it after the process, config.settings.test
after the checkout), its Redis server and RabbitMQ node (tests/conftest.py), its ports
(from the OS, tests.support.processes) and its temporary directories. What stays in one
process, one test after the other (xdist's loadgroup, a module's `xdist_group`): the
compose stack (its published ports) and a module's fixture (the hosts' beds, Flower's
shop). And what the fast tier may not do: start a process."""

import contextlib
import os
import sys


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
