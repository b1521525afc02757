"""Flower follows the workers' task-events switch, read as the settings read it: given on
its command line, Tornado took "off" and "no" for on, and Flower turned the workers'
events back on every 5 s."""

import subprocess
import sys

import pytest

from tests.support.processes import PROJECT_DIR

# Flower's own option definitions, and the file parsed as `flower --conf=` parses it.
READ_OPTION = (
    "from flower.options import options; from tornado.options import parse_config_file; "
    "parse_config_file('worker/flowerconfig.py', final=False); print(options.enable_events)"
)


def flower_enable_events(value: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", READ_OPTION],
        cwd=PROJECT_DIR,
        env={"PATH": "/usr/bin:/bin", "CELERY_WORKER_SEND_TASK_EVENTS": value},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("value", "enabled"),
    [("", True), ("1", True), ("on", True), ("0", False), ("off", False), ("No", False)],
)
def test_flower_enables_task_events_exactly_when_the_workers_send_them(value, enabled):
    result = flower_enable_events(value)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(enabled)


def test_a_switch_flower_cannot_read_stops_it_with_one_line():
    result = flower_enable_events("sometimes")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "CELERY_WORKER_SEND_TASK_EVENTS must be 1, true, yes, on, 0, false, no or off, "
        "not 'sometimes'."
    )
