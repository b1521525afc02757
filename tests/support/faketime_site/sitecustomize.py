"""Loaded first (as `sitecustomize`, from PYTHONPATH) by a Python process that
tests.support.clocks runs under Debian's libfaketime 0.9.10 with its monotonic clock left
alone (FAKETIME_DONT_FAKE_MONOTONIC=1, without which every timed wait on a lock hangs).
That libfaketime converts the absolute CLOCK_MONOTONIC deadline of clock_nanosleep() as if
the monotonic clock were faked, and the kernel refuses the result: Python 3.11's
`time.sleep` raises OSError(EINVAL) (libfaketime issue #426). Here `time.sleep` waits in
select() instead, which that libfaketime passes through: the same wait, on the real clock.
Nothing else of the process changes; its wall clock stays faked."""

import os
import select
import time

if "faketime" in os.environ.get("LD_PRELOAD", ""):

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        select.select([], [], [], seconds)  # restarted after a signal (PEP 475)

    time.sleep = _sleep
