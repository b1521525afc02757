"""What `manage.py runstack` decides before it starts anything: Flower's credentials, which
broker to use (the one that answers, else an embedded Redis when it is local), and each
service's command, environment, priority and replicas, from the operator's environment and
development defaults kept across runs."""

import re

import pytest
from django.core.management.base import CommandError

from devstack import services, stack
from devstack.stack import free_port

# --- flower_credentials ------------------------------------------------------------------


def test_configured_credentials_are_used_as_they_are(tmp_path):
    configured = {"FLOWER_BASIC_AUTH": " ops:s3cret "}
    assert services.flower_credentials(configured, tmp_path) == ("ops:s3cret", False)
    assert not list(tmp_path.iterdir())


def test_missing_credentials_are_generated_once_and_kept_for_the_next_run(tmp_path):
    first, generated = services.flower_credentials({}, tmp_path)
    again, _ = services.flower_credentials({"FLOWER_BASIC_AUTH": "   "}, tmp_path)
    elsewhere, _ = services.flower_credentials({}, tmp_path / "another")

    assert generated is True
    user, password = first.split(":")
    assert user == "admin"
    assert len(password) >= 12
    assert again == first
    assert elsewhere != first
    assert (tmp_path / "flower_password").stat().st_mode & 0o077 == 0  # the owner's alone


def test_credentials_without_colon_raise_stack_error_naming_the_variable(tmp_path):
    with pytest.raises(CommandError, match="FLOWER_BASIC_AUTH"):
        services.flower_credentials({"FLOWER_BASIC_AUTH": "adminsecret"}, tmp_path)


@pytest.mark.parametrize("value", [":", "admin:", ":secret", "ops:s3cret,viewer"])
def test_credentials_with_an_empty_user_or_password_are_refused(value, tmp_path):
    with pytest.raises(CommandError, match="FLOWER_BASIC_AUTH"):
        services.flower_credentials({"FLOWER_BASIC_AUTH": value}, tmp_path)


# --- broker_for_run ----------------------------------------------------------------------


def test_answering_broker_needs_nothing_started(broker_url, tmp_path):
    data_dir = tmp_path / "redis"

    assert stack.broker_for_run({"CELERY_BROKER_URL": broker_url}, data_dir) is None
    assert not data_dir.exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_local_broker_that_does_not_answer_gets_an_embedded_redis(host, tmp_path):
    data_dir = tmp_path / "redis"
    closed = free_port()

    embedded = stack.broker_for_run({"CELERY_BROKER_URL": f"redis://{host}:{closed}/0"}, data_dir)

    assert isinstance(embedded, stack.EmbeddedRedis)
    assert embedded.data_dir == data_dir and data_dir.is_dir()
    assert embedded.url == f"redis://127.0.0.1:{embedded.port}/0"
    assert stack.port_is_free(embedded.port)
    argv = embedded.argv()
    assert argv[argv.index("--appendonly") + 1] == "yes"
    assert argv[argv.index("--maxmemory-policy") + 1] == "noeviction"
    assert argv[argv.index("--dir") + 1] == str(data_dir)


def test_remote_broker_that_does_not_answer_is_a_stack_error(tmp_path):
    data_dir = tmp_path / "redis"

    remote = f"redis://127.0.0.2:{free_port()}/0"
    with pytest.raises(CommandError, match=re.escape(remote)):
        stack.broker_for_run({"CELERY_BROKER_URL": remote}, data_dir)

    assert not data_dir.exists()


def test_no_broker_configured_gets_an_embedded_redis_even_where_one_answers(broker_url, tmp_path):
    """Never database 0 of a Redis someone else runs, unasked: make run starts its own."""
    assert stack.redis_answers(broker_url)

    embedded = stack.broker_for_run({"CELERY_BROKER_URL": " "}, tmp_path / "redis")

    assert isinstance(embedded, stack.EmbeddedRedis)


def test_a_non_redis_broker_is_left_to_celery(tmp_path):
    env = {"CELERY_BROKER_URL": "amqp://guest@broker.invalid:5672//"}
    assert stack.broker_for_run(env, tmp_path / "redis") is None


# --- service_env and service_argv --------------------------------------------------------------


def test_dispatcher_and_email_yield_the_cpu_half_as_far_as_the_rest_and_web_not_at_all():
    names = services.service_argv(
        python="python", port=8000, flower_port=5555, env={"WORKER_REPLICAS": "2"}
    )
    nice = {name: services.service_nice(name, 10) for name in names}

    assert nice == {
        "web": 0,
        "worker": 10,
        "worker-2": 10,
        "mail": 5,
        "mail-2": 5,
        "webhooks": 10,
        "webhooks-2": 10,
        "dispatcher": 5,
        "beat": 10,
        "flower": 10,
    }
    assert {services.service_nice(name, 0) for name in names} == {0}  # 0: all equal


def test_services_run_with_debug_off_and_a_secret_key_kept_across_runs(tmp_path):
    first = services.service_env({}, tmp_path)
    second = services.service_env({}, tmp_path)

    assert first["DJANGO_DEBUG"] == "0"
    assert len(first["DJANGO_SECRET_KEY"]) >= 50
    assert first["DJANGO_SECRET_KEY"] == second["DJANGO_SECRET_KEY"]
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"
    # Plain HTTP on loopback: no redirect to HTTPS, cookies that work over HTTP.
    assert first["DJANGO_SECURE_SSL_REDIRECT"] == first["DJANGO_SECURE_COOKIES"] == "0"


def test_what_the_operator_set_wins_over_the_services_defaults_but_debug_stays_off(tmp_path):
    caller = {
        "DJANGO_DEBUG": "1",  # make run's own setup runs so; the services do not
        "DJANGO_SECRET_KEY": "mine",
        "DATABASE_URL": "postgres://db.example/shop",
        "EMAIL_HOST": "smtp.example.com",
        "DJANGO_SECURE_COOKIES": "1",
    }
    env = {**caller, **services.service_env(caller, tmp_path)}  # as runstack merges them

    assert env["DJANGO_DEBUG"] == "0"
    assert env["DJANGO_SECRET_KEY"] == "mine"
    assert env["DATABASE_URL"] == "postgres://db.example/shop"
    assert "EMAIL_BACKEND" not in env  # SMTP, from EMAIL_HOST
    assert env["DJANGO_SECURE_COOKIES"] == "1"
    assert not (tmp_path / "secret_key").exists()


def test_the_services_get_what_production_requires_as_development_defaults(tmp_path):
    from django.conf import settings

    env = services.service_env({}, tmp_path)
    chosen = services.development_defaults({}, tmp_path)

    assert env["DATABASE_URL"] == f"sqlite:///{settings.DATABASES['default']['NAME']}"
    assert env["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert set(chosen) == {
        "DATABASE_URL",
        "EMAIL_BACKEND",
        "DJANGO_SECRET_KEY",
        "VAPID_PRIVATE_KEY",
        "VAPID_PUBLIC_KEY",
    }


def test_make_run_makes_one_vapid_key_pair_and_keeps_it(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.support.push import b64url_decode

    first = services.development_defaults({}, tmp_path)
    again = services.development_defaults({}, tmp_path)
    assert first["VAPID_PRIVATE_KEY"] == again["VAPID_PRIVATE_KEY"]
    assert (tmp_path / "vapid_private_key").stat().st_mode & 0o777 == 0o600
    public = b64url_decode(first["VAPID_PUBLIC_KEY"])
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)  # a P-256 point
    assert len(b64url_decode(first["VAPID_PRIVATE_KEY"])) == 32
    mine = services.development_defaults({"VAPID_PRIVATE_KEY": "given"}, tmp_path)
    assert "VAPID_PRIVATE_KEY" not in mine  # what the caller set wins


def test_service_commands_web_on_uvicorn_workers_and_a_thread_pool_for_email_and_webhooks():
    argv = services.service_argv(python="python", port=8000, flower_port=5555, env={})

    assert argv["web"][3:6] == [
        "config.asgi:application",
        "--worker-class",
        "config.web_worker.WebWorker",
    ]
    assert argv["worker"][argv["worker"].index("-Q") + 1] == "default,inventory,analytics"
    for name, queue in (("mail", "emails"), ("webhooks", "webhooks")):
        assert argv[name][argv[name].index("-Q") + 1] == queue
        assert argv[name][argv[name].index("--pool") + 1] == "threads"
    assert "--conf=worker/flowerconfig.py" in argv["flower"]


def test_worker_replicas_run_each_worker_service_n_times_with_a_node_name_each():
    argv = services.service_argv(
        python="python", port=8000, flower_port=5555, env={"WORKER_REPLICAS": "3"}
    )

    workers = [name for name in argv if name.startswith(("worker", "mail", "webhooks"))]
    assert workers == [
        *("worker", "worker-2", "worker-3"),
        *("mail", "mail-2", "mail-3"),
        *("webhooks", "webhooks-2", "webhooks-3"),
    ]
    nodes = {argv[name][argv[name].index("-n") + 1] for name in argv if "-n" in argv[name]}
    assert len(nodes) == 9
    assert all(argv[f"mail-{n}"][argv["mail"].index("-Q") + 1] == "emails" for n in (2, 3))


@pytest.mark.parametrize("value", ["0", "two", "-1", "65"])
def test_a_bad_worker_replicas_is_a_one_line_error(value):
    with pytest.raises(CommandError, match="WORKER_REPLICAS must be 1 to 64"):
        services.worker_replicas({"WORKER_REPLICAS": value})
