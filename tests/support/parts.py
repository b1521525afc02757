"""A test whose part (root, a tool, a server of the machine's) is missing: on a
contributor's machine it is skipped with the reason; in CI (CI=true), where .ci/run
installs and starts every part, it fails, so that green means everything ran."""

import os

import pytest

from core.env import TRUE


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in TRUE


def part_missing(reason: str) -> None:
    """Skip (fail in CI) the calling test: `reason` says what it needs."""
    if in_ci():
        pytest.fail(f"CI lacks a part this test needs: {reason}", pytrace=False)
    pytest.skip(reason)
