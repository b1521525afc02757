"""The supervisor `manage.py runstack` runs the stack with, on short-lived processes of the
test's own: a child started nice runs at that priority and its children inherit it; the
guard kills the process groups when the supervisor vanishes, and leaves them alone once
released."""

import os
import signal
import subprocess
import sys

from devstack import stack
from tests.support.polling import wait_until
from tests.support.processes import subprocess_env

# --- Stack.start: priorities ---------------------------------------------------------------


def test_a_child_started_nice_runs_at_that_priority_and_its_children_inherit_it(tmp_path):
    supervisor = stack.Stack(env=subprocess_env(), cwd=tmp_path, out=open("/dev/null", "w"))  # noqa: SIM115
    # The child and its fork wait for a signal: alive while the test reads their priority,
    # until the supervisor stops them.
    script = "import os, signal; os.fork(); signal.pause()"
    child = supervisor.start("sleeper", [sys.executable, "-c", script], nice=7)
    try:
        import os

        import psutil

        process = psutil.Process(child.process.pid)
        grandchild = wait_until(lambda: process.children(), message="the fork")[0]
        assert os.getpriority(os.PRIO_PROCESS, child.process.pid) == 7
        assert grandchild.nice() == 7
    finally:
        supervisor.stop(timeout=5)


# --- The guard ------------------------------------------------------------------------------


def sleeper_group() -> subprocess.Popen:
    """A process group of two: a shell and its child."""
    return subprocess.Popen(
        ["sh", "-c", "sleep 60 & wait"], start_new_session=True, stdout=subprocess.DEVNULL
    )


def test_the_guard_kills_the_groups_when_its_supervisor_vanishes():
    import psutil

    group = sleeper_group()
    members = [psutil.Process(group.pid), *psutil.Process(group.pid).children()]
    guard = stack.Guard()
    guard.watch(group.pid)

    guard.process.stdin.close()  # what the supervisor's death looks like to the guard

    assert guard.process.wait(timeout=5) == 0
    group.wait(timeout=5)
    psutil.wait_procs(members, timeout=5)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in members)


def test_a_released_guard_leaves_the_groups_alone():
    group = sleeper_group()
    guard = stack.Guard()
    guard.watch(group.pid)

    guard.release()

    assert guard.process.poll() == 0
    assert group.poll() is None
    os.killpg(group.pid, signal.SIGKILL)  # the shell and its sleep
    group.wait()
