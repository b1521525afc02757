"""`manage.py runstack` refuses an operator's mistake in one line before starting anything:
a port in use or not a number, malformed Flower credentials, a remote broker that does not
answer, a background priority out of range. And the directory of its services' metrics,
its own."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import stack
from devstack.management.commands.runstack import Command
from devstack.stack import free_port
from tests.support import PROJECT_DIR
from tests.support.hashers import TransactionRecordingHasher
from tests.support.processes import subprocess_env


@pytest.fixture
def busy_port():
    """A port something is listening on for the whole test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def untouched_db(tmp_path):
    """A SQLite file that must still not exist after the command: it failed before the DB."""
    return tmp_path / "never-created.sqlite3"


def runstack(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "runstack", "--no-demo"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def base_env(untouched_db, broker_url, **overrides) -> dict[str, str]:
    env = {
        # Whatever the test session uses; the database is one no one may touch.
        "CELERY_BROKER_URL": broker_url,
        "DATABASE_URL": f"sqlite:///{untouched_db}",
        "PORT": str(free_port()),
        "FLOWER_PORT": str(free_port()),
        "FLOWER_BASIC_AUTH": "",
    }
    env.update(overrides)
    return {**subprocess_env(), **env}


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def assert_started_nothing(result, untouched_db, *ports):
    assert "Shopflow is running" not in result.stdout
    assert "redis |" not in result.stdout and "web |" not in result.stdout
    assert not untouched_db.exists(), "the command touched the database"
    for port in ports:
        assert stack.port_is_free(port), f"something was left listening on {port}"


# --- The command -------------------------------------------------------------------------


def test_port_in_use_exits_quickly_with_one_line_naming_port(busy_port, untouched_db, broker_url):
    env = base_env(untouched_db, broker_url, PORT=str(busy_port))

    result = runstack(env)

    line = one_line_error(result)
    assert "PORT" in line and str(busy_port) in line
    assert "FLOWER_PORT" not in line
    assert_started_nothing(result, untouched_db, int(env["FLOWER_PORT"]))


def test_flower_port_in_use_names_flower_port(busy_port, untouched_db, broker_url):
    env = base_env(untouched_db, broker_url, FLOWER_PORT=str(busy_port))

    result = runstack(env)

    line = one_line_error(result)
    assert "FLOWER_PORT" in line and str(busy_port) in line
    assert_started_nothing(result, untouched_db, int(env["PORT"]))


def test_flower_basic_auth_without_colon_exits_naming_it(untouched_db, broker_url):
    env = base_env(untouched_db, broker_url, FLOWER_BASIC_AUTH="adminsecret")

    result = runstack(env)

    line = one_line_error(result)
    assert "FLOWER_BASIC_AUTH" in line
    assert "adminsecret" not in line  # a secret, even a malformed one, is not echoed
    assert_started_nothing(result, untouched_db, int(env["PORT"]), int(env["FLOWER_PORT"]))


def test_unreachable_remote_broker_exits_naming_it(untouched_db, broker_url):
    # 127.0.0.2 is loopback but not "local" to runstack: it is treated as a remote broker.
    remote = f"redis://127.0.0.2:{free_port()}/0"
    env = base_env(untouched_db, broker_url, CELERY_BROKER_URL=remote)

    result = runstack(env)

    line = one_line_error(result)
    assert remote in line
    assert_started_nothing(result, untouched_db, int(env["PORT"]), int(env["FLOWER_PORT"]))


def test_a_port_that_is_not_a_number_is_one_line_naming_port(untouched_db, broker_url):
    env = base_env(untouched_db, broker_url, PORT="web")

    result = runstack(env)

    line = one_line_error(result)
    assert "PORT" in line


@pytest.mark.parametrize("value", ["low", "20", "-5"])
def test_a_background_nice_out_of_range_is_one_line_naming_it(untouched_db, broker_url, value):
    env = base_env(untouched_db, broker_url, SHOPFLOW_BACKGROUND_NICE=value)

    result = runstack(env)

    line = one_line_error(result)
    assert "SHOPFLOW_BACKGROUND_NICE" in line
    assert_started_nothing(result, untouched_db, int(env["PORT"]), int(env["FLOWER_PORT"]))


# --- The metrics directory -------------------------------------------------------------------


def test_each_stack_gets_a_metrics_directory_of_its_own(tmp_path):
    from devstack.management.commands.runstack import _metrics_dir

    mine = Path(_metrics_dir(tmp_path / "metrics"))

    assert mine.parent == tmp_path / "metrics" and mine.is_dir() and not any(mine.iterdir())
    assert Path(_metrics_dir(tmp_path / "metrics")) != mine  # two stacks never share one


@pytest.mark.django_db(transaction=True)  # autocommit, as runstack runs
def test_the_staff_users_password_is_hashed_outside_any_transaction(settings):
    """At production's cost a hash takes seconds on a loaded machine: longer than
    PostgreSQL lets a transaction idle (a CI run's runstack died of it at setup)."""
    settings.PASSWORD_HASHERS = ["tests.support.hashers.TransactionRecordingHasher"]
    hashed = TransactionRecordingHasher.in_transaction
    hashed.clear()
    command = Command()

    command._ensure_staff_user({"SHOPFLOW_ADMIN_PASSWORD": "first-secret"})  # made
    command._ensure_staff_user({"SHOPFLOW_ADMIN_PASSWORD": "second-secret"})  # checked, reset

    assert len(hashed) >= 3 and not any(hashed)


@pytest.mark.parametrize("database", ["no_such_database", "unreachable"])
def test_a_database_it_cannot_reach_is_one_line_naming_it(tmp_path, broker_url, database):
    """A PostgreSQL database not created, or a server that does not answer: one line, not
    a migration's traceback, and nothing started."""
    from django.db import connection

    server = connection.settings_dict
    url = (
        f"postgres://{server['USER']}@{server['HOST']}:{server['PORT']}/no_such_database"
        if database == "no_such_database"
        else f"postgres://shop@127.0.0.1:{free_port()}/shop"
    )
    env = base_env(tmp_path / "unused.sqlite3", broker_url, DATABASE_URL=url)

    result = runstack(env)

    line = one_line_error(result)
    assert "cannot be reached" in line and ("no_such_database" in line or "/shop" in line)
    assert_started_nothing(result, tmp_path / "unused.sqlite3", int(env["PORT"]))
