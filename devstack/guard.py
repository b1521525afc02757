"""The guard of `make run`'s supervisor: kills what the supervisor started if it dies
without stopping it (SIGKILL, the OOM killer), so no web server, worker or beat is left
holding its port, and the next `make run` meets no second beat.

Run by devstack.stack as a script (no Django, nothing imported from the project), in a
session of its own. It reads lines on standard input, a pipe from the supervisor:

    pgid <n>    a process group the supervisor started (a service and its children)
    gone <n>    that group is stopped and reaped (its number may be reused)
    done        the supervisor stopped them itself: exit

End of input without "done" means the supervisor is gone: every group gets SIGTERM, and
SIGKILL whatever is left after GRACE_SECONDS.
"""

import contextlib
import os
import signal
import sys
import time

GRACE_SECONDS = 0.8


def alive(pgid: int) -> bool:
    """The process group `pgid` still has a process."""
    return _answers(os.killpg, pgid)


def process_alive(pid: int) -> bool:
    """The process `pid` still exists."""
    return _answers(os.kill, pid)


def _answers(send, target: int) -> bool:
    """Signal 0 reaches `target` (one we may not signal exists too)."""
    try:
        send(target, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def main() -> None:
    # Ctrl-C in the terminal is the supervisor's to handle, not ours.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    groups: list[int] = []
    for line in sys.stdin:
        word, _, value = line.strip().partition(" ")
        if word == "pgid" and value.isdigit():
            groups.append(int(value))
        elif word == "gone" and value.isdigit() and int(value) in groups:
            groups.remove(int(value))
        elif word == "done":
            return
    for pgid in groups:
        signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and any(alive(pgid) for pgid in groups):
        time.sleep(0.05)
    for pgid in groups:
        signal_group(pgid, signal.SIGKILL)


if __name__ == "__main__":
    main()
