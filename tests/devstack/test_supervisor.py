"""The supervisor `manage.py runstack` runs the stack with, on short-lived processes of the
test's own: a child started nice runs at that priority and its children inherit it; a
signal during setup stops it at once, but not before the child being started is recorded;
the guard kills the process groups when the supervisor vanishes, and leaves alone those
the supervisor stopped itself."""

import io
import os
import signal
import subprocess
import sys

import pytest

from devstack import stack
from tests.support.polling import wait_until
from tests.support.processes import subprocess_env


def supervisor_of(tmp_path) -> stack.Stack:
    return stack.Stack(env=subprocess_env(), cwd=tmp_path, out=io.StringIO())


# --- Stack.start: priorities ---------------------------------------------------------------


def test_a_child_started_nice_runs_at_that_priority_and_its_children_inherit_it(tmp_path):
    supervisor = supervisor_of(tmp_path)
    # The child and its fork wait for a signal: alive while the test reads their priority,
    # until the supervisor stops them.
    script = "import os, signal; os.fork(); signal.pause()"
    child = supervisor.start("sleeper", [sys.executable, "-c", script], nice=7)
    try:
        import psutil

        process = psutil.Process(child.process.pid)
        grandchild = wait_until(lambda: process.children(), message="the fork")[0]
        assert os.getpriority(os.PRIO_PROCESS, child.process.pid) == 7
        assert grandchild.nice() == 7
    finally:
        supervisor.stop(timeout=5)


# --- Signals during setup --------------------------------------------------------------------


def test_a_signal_during_setup_interrupts_it_at_once(tmp_path):
    supervisor = supervisor_of(tmp_path)
    try:
        with pytest.raises(KeyboardInterrupt):
            supervisor.handle_signal(signal.SIGTERM)
        assert supervisor.signum == signal.SIGTERM
    finally:
        supervisor.stop()


def test_a_signal_while_a_child_starts_waits_until_the_child_is_recorded(tmp_path, monkeypatch):
    supervisor = supervisor_of(tmp_path)
    tell_guard = supervisor._tell_guard

    def signal_arrives(pgid):  # between the fork and the end of the bookkeeping
        supervisor.handle_signal(signal.SIGINT)
        tell_guard(pgid)

    monkeypatch.setattr(supervisor, "_tell_guard", signal_arrives)
    try:
        with pytest.raises(KeyboardInterrupt):
            supervisor.start("sleeper", ["sleep", "60"])
        [child] = supervisor.children
        assert child.process.poll() is None
    finally:
        monkeypatch.undo()
        supervisor.setting_up = False
        supervisor.stop(timeout=5)
    assert child.process.returncode == -signal.SIGTERM


def test_once_running_a_signal_asks_for_an_orderly_stop(tmp_path):
    supervisor = supervisor_of(tmp_path)
    supervisor.setting_up = False
    try:
        supervisor.handle_signal(signal.SIGINT)
        assert supervisor.wait() == 0
    finally:
        supervisor.stop()


# --- The guard ------------------------------------------------------------------------------

SLEEPERS = ["sh", "-c", "sleep 60 & wait"]  # a process group of two: a shell and its child


def test_the_guard_kills_the_groups_when_its_supervisor_vanishes(tmp_path):
    import psutil

    supervisor = supervisor_of(tmp_path)
    child = supervisor.start("sleepers", SLEEPERS)
    try:
        shell = psutil.Process(child.process.pid)
        members = [shell, *wait_until(shell.children, message="the sleep")]

        supervisor.guard.stdin.close()  # what the supervisor's death looks like to the guard

        assert supervisor.guard.wait(timeout=5) == 0
        child.process.wait(timeout=5)
        psutil.wait_procs(members, timeout=5)
        assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in members)
    finally:
        supervisor.stop(timeout=5)


def test_the_guard_leaves_alone_the_groups_the_supervisor_stopped(tmp_path):
    supervisor = supervisor_of(tmp_path)
    supervisor.start("sleepers", SLEEPERS)
    # A group the guard was told of, then told was gone: its number now someone else's.
    other = subprocess.Popen(SLEEPERS, start_new_session=True, stdout=subprocess.DEVNULL)
    supervisor._tell_guard(other.pid)
    supervisor._tell_guard(-other.pid)

    supervisor.stop(timeout=5)

    assert supervisor.guard.returncode == 0
    assert other.poll() is None
    os.killpg(other.pid, signal.SIGKILL)  # the shell and its sleep
    other.wait()
