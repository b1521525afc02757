"""The guard of `make run`'s supervisor: kills what the supervisor started if it dies
without stopping it (SIGKILL, the OOM killer), so no web server, worker or beat is left
holding its port, and the next `make run` meets no second beat.

Run by devstack.stack as a script (no Django, nothing imported from the project), in a
session of its own. It reads lines on standard input, a pipe from the supervisor: `<n>`
for a process group the supervisor started (a service and its children), `-<n>` once that
group is stopped and reaped (its number may be reused). At the end of its input, the
groups still listed are those of a supervisor gone without stopping them: each gets
SIGTERM, and SIGKILL after GRACE_SECONDS. After an orderly stop none is left.
"""

import contextlib
import os
import signal
import sys
import time

GRACE_SECONDS = 0.8


def signal_groups(groups: set[int], signum: int) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)


def main() -> None:
    # Ctrl-C in the terminal is the supervisor's to handle, not ours.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin:
        pgid = int(line)
        if pgid > 0:
            groups.add(pgid)
        else:
            groups.discard(-pgid)
    if groups:
        signal_groups(groups, signal.SIGTERM)
        time.sleep(GRACE_SECONDS)
        signal_groups(groups, signal.SIGKILL)


if __name__ == "__main__":
    main()
