"""Production settings from the environment: a missing secret is one clear line, and a
properly configured production environment passes Django's deployment checks."""

import secrets

import pytest

from tests.support import PROJECT_DIR
from tests.support.manage import SECRET, manage, production, settings_read

# The slow tier: production settings are checked in subprocesses (manage.py, or a process
# that loads the settings alone).
pytestmark = pytest.mark.slow


def test_debug_off_without_secret_key_fails_with_one_line_naming_it():
    result = manage("check", unset=[SECRET], **{**production(), SECRET: ""})

    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert SECRET in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_debug_off_with_an_empty_secret_key_fails_the_same_way():
    result = manage("check", **production(DJANGO_DEBUG="false", DJANGO_SECRET_KEY=""))

    assert result.returncode != 0
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert SECRET in result.stderr


def test_debug_on_without_secret_key_still_runs_for_development():
    result = manage("check", unset=[SECRET, "DATABASE_URL", "EMAIL_HOST"], DJANGO_DEBUG="1")

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_without_djangos_debug_set_it_is_production_and_fails_closed():
    result = manage("check", unset=["DJANGO_DEBUG", SECRET, "DATABASE_URL", "EMAIL_HOST"])

    assert result.returncode == 2
    assert result.stderr.strip() == "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off."


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("DATABASE_URL", "DATABASE_URL"),
        ("EMAIL_HOST", "EMAIL_HOST (or EMAIL_BACKEND"),
        ("SHOPFLOW_SITE_URL", "SHOPFLOW_SITE_URL (https://"),
        ("CELERY_BROKER_URL", "CELERY_BROKER_URL (redis://"),
    ],
)
def test_production_without_a_database_a_mail_backend_the_site_or_a_broker_fails_in_one_line(
    missing, named
):
    result = manage("check", unset=[missing], **{**production(), missing: ""})

    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{missing} must be set when DJANGO_DEBUG is off")
    assert named.split()[-1].strip("(") in line


def test_production_beside_rabbitmq_starts_only_with_a_redis_named_for_live_notifications():
    rabbitmq = production(CELERY_BROKER_URL="amqp://shop:secret@rabbitmq:5672//")
    refused = manage("check", unset=["CHANNEL_LAYER_URL"], **rabbitmq)
    named = manage("check", **rabbitmq, CHANNEL_LAYER_URL="redis://:secret@redis:6379/1")

    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "CHANNEL_LAYER_URL must be set when DJANGO_DEBUG is off beside a broker that is not"
        " Redis (redis://...)."
    )
    assert named.returncode == 0, named.stderr


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DJANGO_SECURE_SSL_REDIRECT", "ture", "1, true, yes, on, 0, false, no or off"),
        ("CELERY_TASK_TIME_LIMIT", "2m", "a whole number"),
        (
            "SHOPFLOW_CURRENCY",
            "eur",
            "an ISO 4217 currency code, three upper-case letters such as EUR",
        ),
    ],
)
def test_a_setting_that_does_not_parse_fails_with_one_line_not_a_silent_default(
    name, value, expected
):
    result = manage("check", **production(**{name: value}))

    assert result.returncode == 2
    assert result.stderr.strip() == f"{name} must be {expected}, not {value!r}."


def test_a_lock_wait_no_longer_than_an_idle_transaction_may_last_is_refused():
    """A checkout waiting on a frozen worker's row must outlast the transaction that holds
    it: PostgreSQL ends that one after the idle bound."""
    result = manage(
        "check",
        **production(DATABASE_LOCK_TIMEOUT="10", DATABASE_IDLE_IN_TRANSACTION_TIMEOUT="10"),
    )

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "DATABASE_LOCK_TIMEOUT must be longer than DATABASE_IDLE_IN_TRANSACTION_TIMEOUT"
        " (10 s), or 0, not '10'."
    )


@pytest.mark.parametrize(
    ("value", "read"), [("0", False), ("No", False), ("OFF", False), ("on", True)]
)
def test_a_switch_reads_the_usual_words_for_on_and_off(value, read):
    result = settings_read(
        "from django.conf import settings; print(settings.SECURE_SSL_REDIRECT)",
        **production(DJANGO_SECURE_SSL_REDIRECT=value),
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(read)


def test_production_may_choose_a_mail_backend_on_purpose():
    result = manage(
        "check",
        unset=["EMAIL_HOST"],
        **production(EMAIL_HOST="", EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend"),
    )

    assert result.returncode == 0, result.stderr


def test_the_compose_environment_passes_the_deploy_checks():
    """docker-compose.yml's web environment, with .env.example's values filled in."""
    env = compose_web_environment()
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)

    assert result.returncode == 0, result.stdout + result.stderr


def test_production_environment_passes_the_deploy_checks_at_warning_level():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_check_catches_a_weak_secret_key():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", **production(DJANGO_SECRET_KEY="s3cret")
    )

    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_cookies_sent_over_plain_http_are_warned_of_unless_the_site_is_plain_http():
    deploy = ("check", "--deploy", "--fail-level", "WARNING")
    on_https = manage(*deploy, **production(DJANGO_SECURE_COOKIES="0"))
    on_http = manage(
        *deploy,
        **production(DJANGO_SECURE_COOKIES="0", SHOPFLOW_SITE_URL="http://localhost:8000"),
    )

    assert "security.W012" in on_https.stdout + on_https.stderr
    assert on_http.returncode == 0, on_http.stdout + on_http.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DJANGO_SECRET_KEY", "change-me"),
        ("DATABASE_URL", "postgres://shopflow:change-me@postgres:5432/shopflow"),
        ("FLOWER_BASIC_AUTH", "admin:change-me"),
    ],
)
def test_a_placeholder_of_env_example_left_in_place_stops_the_process_in_one_line(variable, value):
    result = manage("check", **production(**{variable: value}))

    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr
    assert variable in result.stderr and "change-me" in result.stderr


def test_a_sender_whose_quotes_an_env_file_reader_kept_is_refused_in_one_line():
    result = manage("check", **production(DEFAULT_FROM_EMAIL='"Shopflow <orders@example.com>"'))

    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr
    assert "DEFAULT_FROM_EMAIL" in result.stderr and "unquoted" in result.stderr


def test_a_named_sender_without_quotes_is_taken_as_it_is():
    read = "from django.conf import settings; print(settings.DEFAULT_FROM_EMAIL)"
    result = settings_read(read, **production(DEFAULT_FROM_EMAIL="Shop <o@example.com>"))

    assert result.stdout.splitlines()[-1] == "Shop <o@example.com>", result.stderr


def test_an_empty_database_url_means_the_default_in_development():
    result = manage("check", DATABASE_URL="", DJANGO_DEBUG="1")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("pooling", "disabled"), [("1", "True"), ("", "False")])
def test_behind_a_transaction_pooler_querysets_stream_without_server_side_cursors(
    pooling, disabled
):
    """PgBouncer in transaction mode may run each transaction on another connection, where
    a cursor held open between them does not exist (docs/operations.md)."""
    read = (
        "from django.conf import settings\n"
        "print(settings.DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS'])"
    )
    result = settings_read(read, DJANGO_DEBUG="1", DATABASE_TRANSACTION_POOLING=pooling)

    assert result.stdout.splitlines()[-1] == disabled, result.stderr


@pytest.mark.parametrize(
    ("broker", "transport"),
    [
        ("redis://127.0.0.1:6379/0", "worker.compat.redis_close.Transport"),
        ("amqp://guest:guest@127.0.0.1:5672//", "kombu.transport.pyamqp.Transport"),
    ],
)
def test_the_apps_connections_take_the_transport_for_their_url_and_give_the_url_back(
    broker, transport
):
    """On Redis, the transport whose channel closes when the link died under it; the URL
    unchanged (Flower reads the broker's kind from it)."""
    read = (
        "from worker.celery import app\n"
        "connection = app.connection_for_read()\n"
        "kind = type(connection.transport)\n"
        "print(connection.as_uri(include_password=True))\n"
        "print(f'{kind.__module__}.{kind.__qualname__}')"
    )
    result = settings_read(read, DJANGO_DEBUG="1", CELERY_BROKER_URL=broker)

    assert result.stdout.splitlines()[-2:] == [broker, transport], result.stderr


def compose_web_environment() -> dict[str, str]:
    """The environment docker-compose.yml gives the web service: its own `environment`
    block with ${VARS} from a filled-in .env.example."""
    import re

    import yaml

    compose = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())
    dotenv = {
        "POSTGRES_PASSWORD": "compose-db-secret",
        "FLOWER_BASIC_AUTH": "ops:compose-flower-secret",
        SECRET: secrets.token_urlsafe(64),
    }
    for line in (PROJECT_DIR / ".env.example").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#") and key.strip() not in dotenv:
            dotenv[key.strip()] = value.strip().strip('"')
    dotenv[SECRET] = secrets.token_urlsafe(64)  # the example's placeholder fails W009

    def expand(value: str) -> str:
        return re.sub(
            r"\$\{(\w+)(?::?[-?][^}]*)?\}",
            lambda m: dotenv.get(m.group(1), m.group(0)),
            str(value),
        )

    web = compose["services"]["web"]
    environment = web.get("environment") or {}
    env = {key: expand(value) for key, value in dotenv.items()}
    env.update({key: expand(value) for key, value in environment.items()})
    env["DJANGO_ALLOWED_HOSTS"] = env.get("DJANGO_ALLOWED_HOSTS") or "shop.example.com"
    return env


def test_the_login_audit_is_kept_at_least_as_long_as_the_throttle_counts_it():
    """Pruning inside the window would forget failures the throttles still count."""
    show = "from django.conf import settings; print(settings.SHOPFLOW_LOGIN_AUDIT_RETENTION_DAYS)"
    result = settings_read(
        show,
        DJANGO_DEBUG="1",
        SHOPFLOW_LOGIN_AUDIT_RETENTION_DAYS="0",
        SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS=str(2 * 86400 + 1),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "3"


def test_naming_the_production_module_is_production_whatever_django_debug_says():
    show = "from django.conf import settings; print(settings.DEBUG, settings.SHOPFLOW_SITE_URL)"
    result = manage(  # manage.py itself: the module it is given is the one it uses
        "shell",
        "-c",
        show,
        **production(DJANGO_DEBUG="1", DJANGO_SETTINGS_MODULE="config.settings.production"),
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False https://shop.example.com"


@pytest.mark.parametrize(
    ("configured", "seconds"), [({}, "5"), ({"DATABASE_CONNECT_TIMEOUT": "2"}, "2")]
)
def test_a_postgresql_connection_that_does_not_answer_fails_in_seconds(configured, seconds):
    read = (
        "from django.conf import settings\n"
        "print(settings.DATABASES['default']['OPTIONS']['connect_timeout'])"
    )
    result = settings_read(
        read,
        DJANGO_DEBUG="1",
        DATABASE_URL="postgres://shop@db.example.com:5432/shop",
        **configured,
    )

    assert result.stdout.splitlines()[-1] == seconds, result.stderr


@pytest.mark.parametrize("life", [None, "120"])
def test_a_dead_connection_leaves_its_channel_group_soon_after_a_connection_would_end(life):
    """Not channels-redis's day: a publish fans out to every member its group still holds."""
    read = (
        "from channels.layers import get_channel_layer\n"
        "from django.conf import settings\n"
        "print(settings.SHOPFLOW_STREAM_MAX_SECONDS, get_channel_layer().group_expiry)"
    )
    configured = {} if life is None else {"SHOPFLOW_STREAM_MAX_SECONDS": life}
    result = settings_read(read, DJANGO_DEBUG="1", **configured)

    assert result.returncode == 0, result.stderr
    max_seconds, group_expiry = map(int, result.stdout.split()[-2:])
    assert max_seconds == int(life or 600)
    assert max_seconds < group_expiry <= max_seconds + 120
