"""A run killed before its fixtures stop its brokers leaves them to the next run, which
removes them (tests/conftest.py, at the session's start): without touching another live
suite's."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import PROJECT_DIR
from tests.support.brokers import RedisServer, broker_owner, orphaned_brokers_reap
from tests.support.polling import wait_until

pytestmark = pytest.mark.slow

# A test process of its own: starts a broker, says which, and waits to be killed.
OWNER = """
import sys
from tests.support.brokers import {kind}
broker = {kind}().start()
print(broker.dir, flush=True)
sys.stdin.read()
"""


def brokers_owned_by(owner: int) -> list[int]:
    """The pids of the processes whose command line names `owner` as their test process."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and broker_owner(proc) == owner:  # a zombie is gone, not yet reaped
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("kind", ["RedisServer", "RabbitMQNode"])
def test_a_killed_runs_broker_is_reaped_and_a_live_ones_is_left(kind, tmp_path):
    mine = RedisServer().start()  # this live test process's: it must survive the reap
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER.format(kind=kind)],
        cwd=PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        directory = Path(owner.stdout.readline().strip())
        assert directory.is_dir() and brokers_owned_by(owner.pid), "the broker did not start"
        owner.kill()  # as a SIGKILLed run: no fixture, no finalizer
        owner.wait(timeout=10)
        assert brokers_owned_by(owner.pid), "the broker went with its owner: nothing to reap"

        reaped = orphaned_brokers_reap()

        assert reaped
        wait_until(lambda: not brokers_owned_by(owner.pid), timeout=30, message="reaped")
        assert not directory.exists()
        assert mine.process.poll() is None and brokers_owned_by(os.getpid())
    finally:
        if owner.poll() is None:
            owner.send_signal(signal.SIGKILL)
        for pid in brokers_owned_by(owner.pid):  # a failed reap leaves nothing either
            os.kill(pid, signal.SIGKILL)
        mine.stop()
