"""The stack's files, read once a module."""

import pytest
import yaml

from tests.support.compose import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    read_env_file,
)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)
