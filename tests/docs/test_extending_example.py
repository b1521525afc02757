"""docs/extending.md is true when followed: its example app, gift_wrap (the side effect and
the low_stock job), built as the page tells a reader to, in a copy of the project, passes
the page's own tests there. test_extending.py checks each snippet against the code; only
building them all together shows that they fit (an import left out, a step not said)."""

import re

import pytest
from django.db import connection

from tests.support.compose_stack import project_copy
from tests.support.extending import (
    SETTINGS,
    copy_environment,
    database_of_its_own,
    example_written,
    project_run,
    settings_pasted,
)
from tests.support.processes import database_url

pytestmark = pytest.mark.slow  # manage.py and pytest, each in a process of its own


def outcomes(output: str) -> dict[str, int]:
    """pytest's last line, {"passed": 3, ...}, warnings left out."""
    last = output.strip().splitlines()[-1] if output.strip() else ""
    found = re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)\b", last)
    return {kind: int(count) for count, kind in found}


def suites_server() -> str | None:
    """The URL of the suite's PostgreSQL server, without a database; None on SQLite."""
    on_postgres = connection.vendor == "postgresql"
    return database_url().rsplit("/", 1)[0] if on_postgres else None


def test_the_pages_example_app_built_as_written_passes_the_pages_tests(tmp_path):
    copy = project_copy(tmp_path / "project")
    page = (copy / "docs" / "extending.md").read_text()
    test_modules = example_written(page, copy)
    settings = copy / SETTINGS
    settings.write_text(settings_pasted(settings.read_text(), page))
    expected = sum(len(re.findall(r"^def test_", m.read_text(), re.M)) for m in test_modules)

    # The page's step 5: its migration, as a reader makes it.
    env = copy_environment(DJANGO_DEBUG="1")
    status, output = project_run(
        copy, "manage.py", "makemigrations", "gift_wrap", env=env, timeout=30
    )
    assert status == 0, output[-3000:]

    with database_of_its_own(suites_server()) as database:
        args = ["-m", "pytest", "tests/gift_wrap", "-q", "-p", "no:cacheprovider"]
        env = copy_environment(**database)
        status, output = project_run(copy, *args, env=env, timeout=60)

    assert status == 0 and outcomes(output) == {"passed": expected}, output[-3000:]
