"""A run killed before its fixtures stop its brokers leaves them to the next run, which
removes them (tests/conftest.py, at the session's start): without touching another live
suite's."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.support import PROJECT_DIR
from tests.support.brokers import (
    RABBITMQ_BIN,
    RedisServer,
    broker_owner,
    orphaned_brokers_reap,
)
from tests.support.parts import part_missing
from tests.support.polling import wait_until

# A test process of its own: starts a broker, says which, and waits to be killed.
OWNER = """
import sys
from tests.support.brokers import {kind}
broker = {kind}().start()
print(broker.dir, flush=True)
sys.stdin.read()
"""


def brokers_owned_by(owner: int) -> list[int]:
    """The pids of the live processes that are `owner`'s brokers or their helpers."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and broker_owner(int(proc.name)) == owner:  # a zombie is gone
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize(
    "kind", ["RedisServer", pytest.param("RabbitMQNode", marks=pytest.mark.rabbitmq)]
)
def test_a_killed_runs_broker_is_reaped_and_a_live_ones_is_left(kind):
    if kind == "RabbitMQNode" and not (RABBITMQ_BIN / "rabbitmq-server").exists():
        part_missing("needs RabbitMQ (.ci/run installs it)")
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
        line = owner.stdout.readline().strip()  # bounded by the broker's own start
        assert line, "the broker did not start"
        directory = Path(line)
        assert directory.is_dir() and brokers_owned_by(owner.pid)
        owner.kill()  # as a SIGKILLed run: no fixture, no finalizer
        owner.wait(timeout=10)
        owned = brokers_owned_by(owner.pid)
        assert owned, "the broker went with its owner: nothing to reap"

        # Only this test's owners: a test beside it may have killed its own.
        reaped = orphaned_brokers_reap(owners={owner.pid, os.getpid()})

        # Its processes alone (a node's helpers may exit with it before their turn).
        assert reaped and set(reaped) <= set(owned)
        wait_until(lambda: not brokers_owned_by(owner.pid), timeout=30, message="reaped")
        assert not directory.exists()
        assert mine.process.poll() is None and brokers_owned_by(os.getpid())
    finally:
        if owner.poll() is None:
            owner.send_signal(signal.SIGKILL)
        for pid in brokers_owned_by(owner.pid):  # a failed reap leaves nothing either
            os.kill(pid, signal.SIGKILL)
        mine.stop()


def test_a_redis_server_whose_port_another_took_starts_on_another_port():
    """Another test process's server on the port between free_port() and the bind: the
    server this one answers as is its own, not that one, which goes away with its test."""
    first = RedisServer().start()
    second = RedisServer()
    second.port = first.port  # taken, as by another test process meanwhile
    try:
        second.start()
        assert second.port != first.port
        assert redis.Redis.from_url(second.url).info("server")["process_id"] == second.process.pid
        first.stop()
        assert redis.Redis.from_url(second.url).ping()
    finally:
        first.stop()
        second.stop()
