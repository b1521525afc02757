"""core.liveness: a process writes its heartbeat as a file's modification time, and the
probe (`python -m core.liveness`, the orchestrator's exec probe) reads it with no Django.
tests/deploy/test_kubernetes_probes.py runs it against real workers, beat and relay."""

import os
import re
import subprocess
import time

import pytest

from core import liveness
from tests.support.processes import python_run

# The slow tier: the probe runs as the kubelet runs it, a python process.
pytestmark = pytest.mark.slow


def probe(path, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "SHOPFLOW_LIVENESS_FILE": str(path), **env}
    return python_run("-m", "core.liveness", env=environment)


@pytest.fixture
def alive_file(tmp_path, monkeypatch):
    path = tmp_path / "alive"
    monkeypatch.setenv("SHOPFLOW_LIVENESS_FILE", str(path))
    monkeypatch.setattr(liveness, "_marked_at", 0.0)
    return path


def test_a_process_with_a_heartbeat_passes_the_probe(alive_file):
    liveness.liveness_heartbeat()

    assert os.stat(alive_file).st_mtime > time.time() + liveness.ALIVE_SECONDS - 5
    assert probe(alive_file).returncode == 0


def test_the_probe_fails_in_one_line_once_the_heartbeat_lapsed(alive_file):
    liveness.liveness_heartbeat(seconds=-30)  # alive until half a minute ago

    result = probe(alive_file)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert re.search(r"lapsed 3\d s ago", result.stderr), result.stderr


def test_the_probe_fails_before_the_process_ever_marked_itself_alive(alive_file):
    result = probe(alive_file)

    assert result.returncode == 1 and "never written" in result.stderr


def test_the_probe_fails_when_no_file_is_configured(tmp_path):
    result = probe("")

    assert result.returncode == 1 and "SHOPFLOW_LIVENESS_FILE" in result.stderr


def test_a_busy_loop_writes_at_most_once_every_few_seconds(alive_file):
    liveness.liveness_heartbeat()
    os.utime(alive_file, (1.0, 1.0))  # a mark of 1970: a second write would move it
    liveness.liveness_heartbeat()

    assert os.stat(alive_file).st_mtime == 1.0


def test_a_long_heartbeat_is_written_at_once_and_the_next_mark_brings_it_back(alive_file):
    liveness.liveness_heartbeat()
    liveness.liveness_heartbeat(seconds=900)  # a worker reconnecting to its broker
    assert os.stat(alive_file).st_mtime > time.time() + 800

    liveness.liveness_heartbeat()  # its loop turns again

    assert os.stat(alive_file).st_mtime < time.time() + liveness.ALIVE_SECONDS + 1


def test_a_window_that_is_no_number_stops_the_probe_in_one_line(alive_file):
    result = probe(alive_file, SHOPFLOW_LIVENESS_SECONDS="a minute")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert "SHOPFLOW_LIVENESS_SECONDS" in result.stderr
