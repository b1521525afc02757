"""The supervisor `manage.py runstack` runs the stack with, on short-lived processes of the
test's own: a child started nice runs at that priority and its children inherit it; a
signal during setup stops it at once, but not before the child being started is recorded."""

import io
import os
import signal
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


def test_a_signal_while_a_child_starts_waits_until_the_child_is_recorded(tmp_path):
    supervisor = supervisor_of(tmp_path)

    class SignalArrives(list):
        def append(self, child):  # between the fork and the end of the bookkeeping
            supervisor.handle_signal(signal.SIGINT)
            super().append(child)

    supervisor.children = SignalArrives()
    try:
        with pytest.raises(KeyboardInterrupt):
            supervisor.start("sleeper", ["sleep", "60"])
        [child] = supervisor.children
        assert child.process.poll() is None
    finally:
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


# --- Stack.wait_ready --------------------------------------------------------------------------


def test_ready_waits_for_each_childs_marker_and_names_those_still_starting(tmp_path):
    supervisor = supervisor_of(tmp_path)
    supervisor.setting_up = False
    # Each stays until the supervisor stops it (its stdin is /dev/null: no input()).
    serves = "import signal; print('warming up'); print('now serving', flush=True); signal.pause()"
    silent = "import signal; signal.pause()"
    try:
        supervisor.start("quick", [sys.executable, "-c", serves], ready_marker="now serving")
        supervisor.start("unmarked", [sys.executable, "-c", silent])
        assert supervisor.wait_ready(timeout=30) == []

        supervisor.start("slow", [sys.executable, "-c", silent], ready_marker="never said")
        assert supervisor.wait_ready(timeout=1) == ["slow"]
        assert all(child.process.poll() is None for child in supervisor.children)
    finally:
        supervisor.stop(timeout=5)
