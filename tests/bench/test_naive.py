"""The baseline of `make bench`, the naive design (bench/naive), is a Django project that
passes Django's checks and has its migrations."""

import os
import subprocess
import sys

import pytest

from tests.support import PROJECT_DIR

# The slow tier: the naive design's manage.py runs.
pytestmark = pytest.mark.slow

NAIVE = PROJECT_DIR / "bench" / "naive"


def test_the_naive_design_passes_manage_py_check(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'naive.sqlite3'}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    for command in (["check"], ["makemigrations", "--check", "--dry-run"]):
        out = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=NAIVE,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stdout + out.stderr
