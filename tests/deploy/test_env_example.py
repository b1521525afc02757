""".env.example: every variable the stack and the settings read, as placeholders, no secret."""

import re

import pytest

from tests.support.compose import (
    CONFIGURATION_PAGE,
    ENV_EXAMPLE,
    PLACEHOLDER,
    SETTINGS_FILES,
    referenced_variables,
)

# --- .env.example --------------------------------------------------------------------------


def test_every_variable_the_compose_file_uses_is_in_env_example(compose, env_example):
    missing = referenced_variables(compose) - set(env_example)
    assert not missing, f"add {sorted(missing)} to .env.example"


@pytest.mark.parametrize("document", [ENV_EXAMPLE, CONFIGURATION_PAGE], ids=lambda p: p.name)
def test_every_variable_settings_read_is_documented(document):
    names = set(
        re.findall(
            r"""(?:environ(?:\.get)?\(|env_(?:bool|int|float|list|email|currency)\()\s*["']([A-Z][A-Z0-9_]*)["']""",
            "".join(path.read_text() for path in SETTINGS_FILES),
        )
    )
    assert len(names) > 30  # the pattern still finds them
    documented = document.read_text()
    missing = sorted(name for name in names if not re.search(rf"\b{name}\b", documented))
    assert not missing, f"document {missing} in {document.name}"


def test_env_example_holds_placeholders_not_secrets(env_example):
    assert env_example["DJANGO_SECRET_KEY"] == PLACEHOLDER
    assert env_example["DJANGO_DEBUG"] == "0"
    secret_like = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY$|AUTH")
    for key, value in env_example.items():
        if secret_like.search(key):
            assert value == "" or PLACEHOLDER in value, f"{key} looks like a real secret"


def test_env_example_explains_ssl_redirect_behind_a_proxy(env_example):
    assert env_example["DJANGO_SECURE_SSL_REDIRECT"] == "0"
    assert "proxy" in ENV_EXAMPLE.read_text().lower()
