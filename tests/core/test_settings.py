"""Production settings from the environment: a missing secret is one clear line, and a
properly configured production environment passes Django's deployment checks."""

import os
import secrets
import subprocess
import sys

from tests.support import PROJECT_DIR

SECRET = "DJANGO_SECRET_KEY"


def manage(*args, unset=(), **overrides) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def production(**overrides) -> dict[str, str]:
    return {
        "DJANGO_DEBUG": "0",
        SECRET: secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "shop.example.com",
        **overrides,
    }


def test_debug_off_without_secret_key_fails_with_one_line_naming_it():
    result = manage("check", unset=[SECRET], DJANGO_DEBUG="0")

    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert SECRET in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_debug_off_with_an_empty_secret_key_fails_the_same_way():
    result = manage("check", DJANGO_DEBUG="false", DJANGO_SECRET_KEY="")

    assert result.returncode != 0
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert SECRET in result.stderr


def test_debug_on_without_secret_key_still_runs_for_development():
    result = manage("check", unset=[SECRET, "DJANGO_DEBUG"])

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_environment_passes_the_deploy_checks_at_warning_level():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_check_catches_a_weak_secret_key():
    # The .env.example placeholder, left in place, must not pass the deployment checks.
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", **production(DJANGO_SECRET_KEY="change-me")
    )

    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_an_empty_database_url_means_the_default():
    result = manage("check", DATABASE_URL="")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
