"""docs/extending.md's example app, built as a reader builds it: each snippet written to the
file its first line names (the whole file, or `, continued`: added at its end), the
settings snippet pasted over base.py's definitions, and the project's commands run in the
copy's directory with this venv's Python, each within its time."""

import contextlib
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg

SNIPPET = re.compile(r"```python\n# (?P<header>[^\n]*)\n(?P<body>.*?)```", re.S)
EXAMPLE = ("gift_wrap/", "tests/gift_wrap/")  # the app's files and its tests'
CONTINUED = ", continued"
SETTINGS = "config/settings/base.py"
PASTED_OVER = ("CELERY_TASK_QUEUES", "CELERY_TASK_ROUTES")  # whole definitions


def snippets(page: str) -> list[tuple[str, str]]:
    """(first line without its `# `, the rest) of each Python snippet, in the page's order."""
    return [(found["header"], found["body"]) for found in SNIPPET.finditer(page)]


def example_written(page: str, root: Path) -> list[Path]:
    """The example's snippets written under `root`; the test modules written."""
    # The page's step 1: a package each, an empty __init__.py.
    for package in EXAMPLE:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    for header, body in snippets(page):
        name, continued = header.removesuffix(CONTINUED), header.endswith(CONTINUED)
        if not name.startswith(EXAMPLE):
            continue
        assert " " not in name, f"not `# path` or `# path{CONTINUED}`: {header!r}"
        path = root / name
        if continued:  # at the end; its imports there run the same as at the top
            body = f"{path.read_text()}\n\n{body}"
        path.write_text(body)
    return sorted((root / EXAMPLE[1]).glob("test_*.py"))


def settings_pasted(settings: str, page: str) -> str:
    """base.py with the page's settings snippet pasted as a reader pastes it: the app's line
    after the line the snippet shows it after, the queues and routes over the ones there."""
    [snippet] = [body for header, body in snippets(page) if header == SETTINGS]
    for name in PASTED_OVER:
        definition = re.compile(rf"^{name} = .*?^[\]}}]\n", re.M | re.S)
        [pasted] = definition.findall(snippet)
        settings, count = definition.subn(lambda _, pasted=pasted: pasted, settings)
        assert count == 1, f"{name}: {count} definitions in {SETTINGS}"
    apps = re.search(r"^INSTALLED_APPS = \[\n(.*?)^\]", snippet, re.M | re.S)[1]
    after, *added = [line for line in apps.splitlines() if line.strip() != "...,"]
    assert settings.count(f"\n{after}\n") == 1, f"{after.strip()} not once in {SETTINGS}"
    return settings.replace(f"\n{after}\n", "\n" + "\n".join([after, *added]) + "\n")


def project_run(root: Path, *args: str, env: dict[str, str], timeout: float):
    """`python *args` in `root` (this venv's Python): (its exit status, or None when it
    outlasted `timeout` and was killed; its output, stderr in it)."""
    try:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout
        return None, f"{output or ''}\n(killed after {timeout} s)"
    return done.returncode, done.stdout


def copy_environment(**overrides: str) -> dict[str, str]:
    """This process's environment for a process in the copy, less what this run set for
    itself (its database, its settings module, pytest-xdist's worker), and `overrides`."""
    own = {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in own and not key.startswith("PYTEST_")
    }
    return env | overrides


@contextlib.contextmanager
def database_of_its_own(server_url: str | None):
    """{DATABASE_URL: a database name of its own on the suite's PostgreSQL server}, or {}
    on SQLite (the copy's own file); after it, any test database of that name left by a
    killed run is dropped (pytest-django drops it otherwise)."""
    if server_url is None:
        yield {}
        return
    name = f"gift_wrap_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        yield {"DATABASE_URL": f"{server_url}/{name}"}
    finally:
        with psycopg.connect(f"{server_url}/postgres", autocommit=True) as admin:
            left = admin.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", [f"test_{name}%"]
            ).fetchall()
            for (database,) in left:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
