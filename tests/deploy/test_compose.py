"""docker-compose.yml: it matches the Compose specification, every command it runs in the
Shopflow image names things that exist, and the stack keeps its operational promises
(durable Redis, scalable workers and beats, ordered start-up, health checks)."""

import shlex
import subprocess
import sys

import pytest
from django.conf import settings

from tests.support.compose import (
    APP_SERVICES,
    COMPOSE_FILE,
    CONFIGURATION_PAGE,
    DEPENDS_ON_CONDITIONS,
    SERVICES_WITH_HEALTHCHECKS,
    argv_of,
    check_app_command,
    healthcheck_argv,
    option_value,
)

# --- the compose file ------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_has_no_obsolete_version_key(compose):
    assert "version" not in compose


def test_stack_has_the_documented_services(services):
    expected = {"postgres", "redis", "mailpit"} | APP_SERVICES
    assert expected <= set(services)


def test_app_services_run_the_shopflow_image_with_shared_config(services):
    built = {name for name, service in services.items() if "build" in service}
    assert built == APP_SERVICES
    for name in APP_SERVICES:
        service = services[name]
        environment = service["environment"]
        assert service["env_file"] == ".env", name
        assert environment["DATABASE_URL"].startswith("postgres://shopflow:"), name
        assert environment["DATABASE_URL"].endswith("@postgres:5432/shopflow"), name
        assert environment["CELERY_BROKER_URL"] == "redis://redis:6379/0", name
        assert environment["EMAIL_HOST"] == "mailpit", name
        assert str(environment["EMAIL_PORT"]) == "1025", name


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_service_command_names_things_that_exist(services, env_example, name):
    command = services[name].get("command")
    assert command, f"{name} has no command"
    check_app_command(argv_of(command, env_example))


def test_web_serves_the_application_on_uvicorn_workers_on_port_8000(services, env_example):
    argv = argv_of(services["web"]["command"], env_example)
    assert argv[:2] == ["gunicorn", "config.asgi:application"]
    assert option_value(argv, "--worker-class", "-k") == "config.web_worker.WebWorker"
    assert option_value(argv, "--bind", "-b") == "0.0.0.0:8000"
    assert "--reuse-port" in argv  # a socket per process: tests/e2e/test_web_tier.py
    assert "${WEB_HOST_PORT:-8000}:8000" in services["web"]["ports"]


def test_migrate_runs_migrations_once_and_is_not_restarted(services, env_example):
    argv = argv_of(services["migrate"]["command"], env_example)
    assert argv == ["python", "manage.py", "migrate", "--noinput"]
    # A one-shot job with a restart policy would run forever and never "complete".
    assert services["migrate"].get("restart", "no") == "no"


def test_workers_consume_every_configured_queue_email_and_webhooks_on_thread_pools_of_their_own(
    services, env_example
):
    consumed = {}
    for name in ("worker", "mail", "webhooks"):
        argv = argv_of(services[name]["command"], env_example)
        consumed[name] = set(option_value(argv, "-Q", "--queues").split(","))
        # Task events follow the settings' switch (CELERY_WORKER_SEND_TASK_EVENTS), not a flag.
        assert not {"-E", "--task-events", "--events"} & set(argv)
    configured = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert consumed["worker"] | consumed["mail"] | consumed["webhooks"] == configured
    assert consumed["mail"] == {"emails"} and "emails" not in consumed["worker"]
    assert consumed["webhooks"] == {"webhooks"} and "webhooks" not in consumed["worker"]
    for name in ("mail", "webhooks"):
        argv = argv_of(services[name]["command"], env_example)
        assert option_value(argv, "--pool", "-P") == "threads"


def test_background_services_yield_the_cpu_to_web_and_dispatcher_and_email_less_than_the_rest(
    services,
):
    for name in ("dispatcher", "worker", "mail", "webhooks", "beat", "flower"):
        assert services[name]["cpu_shares"] < services["web"].get("cpu_shares", 1024), name
    for name in ("worker", "webhooks", "beat", "flower"):
        assert services[name]["cpu_shares"] < services["mail"]["cpu_shares"], name
    assert services["dispatcher"]["cpu_shares"] == services["mail"]["cpu_shares"]


def test_the_dispatcher_runs_the_command_make_run_runs(services, env_example):
    from devstack import services as devstack_services

    argv = argv_of(services["dispatcher"]["command"], env_example)
    ours = devstack_services.service_argv(python="python", port=8000, flower_port=5555, env={})
    assert argv == ours["dispatcher"] == ["python", "manage.py", "dispatch"]


def test_beat_uses_the_database_scheduler(services, env_example):
    argv = argv_of(services["beat"]["command"], env_example)
    assert argv[:4] == ["celery", "-A", "worker", "beat"]
    scheduler = option_value(argv, "-S", "--scheduler")
    assert scheduler == "worker.beat:Scheduler"


def test_flower_requires_basic_auth_from_the_environment_not_the_command_line(services):
    flower = services["flower"]
    assert "basic-auth" not in flower["command"]  # argv is visible to `ps`
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    # The app's own environment (database, broker) still reaches Flower.
    assert flower["environment"]["CELERY_BROKER_URL"] == "redis://redis:6379/0"


def test_flower_is_published_on_the_loopback_interface_only(services):
    assert services["flower"]["ports"] == ["127.0.0.1:${FLOWER_HOST_PORT:-5555}:5555"]


# --- operational promises ----------------------------------------------------------------


def test_redis_keeps_queued_tasks_across_restarts_and_memory_pressure(services, env_example):
    argv = argv_of(services["redis"]["command"], env_example)
    assert argv[0] == "redis-server"
    assert option_value(argv, "--appendonly") == "yes"
    assert option_value(argv, "--maxmemory-policy") == "noeviction"
    assert any(volume.endswith(":/data") for volume in services["redis"]["volumes"])


def test_postgres_keeps_its_data_in_a_volume(services):
    assert any(
        volume.endswith(":/var/lib/postgresql/data") for volume in services["postgres"]["volumes"]
    )


def test_beat_can_be_scaled_out(services):
    """One beat sends behind a lease, the others stand by (worker/beat.py): beats may be
    many."""
    beat = services["beat"]
    assert "replicas" not in beat.get("deploy", {}), "nothing pins beat to one"
    assert "container_name" not in beat, "a fixed name allows only one container"
    assert not beat.get("ports"), "a host port allows only one container"


def test_worker_can_be_scaled_out(services):
    worker = services["worker"]
    assert "container_name" not in worker, "a fixed name allows only one container"
    assert not worker.get("ports"), "a host port allows only one container"


def test_every_dependency_waits_on_a_condition(services):
    for name, service in services.items():
        depends_on = service.get("depends_on")
        if depends_on is None:
            continue
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for dependency, spec in depends_on.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert spec.get("condition") in DEPENDS_ON_CONDITIONS, f"{name} -> {dependency}"


def test_conditions_can_be_met(services):
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            target = services[dependency]
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in target, f"{name} waits for {dependency}'s healthcheck"
            if spec["condition"] == "service_completed_successfully":
                assert target.get("restart", "no") == "no", f"{dependency} never completes"


def test_app_services_start_after_migrations_and_a_healthy_broker(services):
    for name in ("web", "dispatcher", "worker", "beat"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["redis"]["condition"] == "service_healthy", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", sorted(SERVICES_WITH_HEALTHCHECKS))
def test_service_has_a_healthcheck(services, name):
    healthcheck = services[name].get("healthcheck")
    assert healthcheck, f"{name} has no healthcheck"
    assert not healthcheck.get("disable", False)
    kind, args = healthcheck_argv(healthcheck)
    assert kind in {"CMD", "CMD-SHELL"} and args, healthcheck


def test_http_healthchecks_ask_the_readiness_probe_in_python_through_a_shell(services):
    """Shell form: podman's Docker API splits an exec form's arguments on spaces."""
    kind, [line] = healthcheck_argv(services["web"]["healthcheck"])
    # The slim image has no curl: the probe is Python.
    assert kind == "CMD-SHELL", line
    argv = shlex.split(line)
    assert argv[:2] == ["python", "-c"], argv
    assert "http://127.0.0.1:8000/readyz" in argv[2]
    compile(argv[2], "web healthcheck", "exec")


def test_flowers_healthcheck_asks_with_its_credentials_on_its_port(services):
    kind, [line] = healthcheck_argv(services["flower"]["healthcheck"])
    assert kind == "CMD-SHELL" and shlex.split(line) == ["python", "-m", "core.flowerprobe"]
    assert services["flower"]["environment"]["FLOWER_PORT"] == "5555"
    assert services["flower"]["ports"][0].endswith(":5555")


@pytest.mark.parametrize("name", ["worker", "mail", "webhooks", "dispatcher", "beat"])
def test_a_process_without_http_is_healthy_while_its_loop_beats(services, name):
    kind, [line] = healthcheck_argv(services[name]["healthcheck"])
    assert kind == "CMD-SHELL" and shlex.split(line) == ["python", "-m", "core.liveness"]
    assert services[name]["environment"]["SHOPFLOW_LIVENESS_FILE"].startswith("/tmp/")


def test_the_headers_commands_are_the_docs_commands_spelled_alike():
    """One spelling everywhere: the compose file's header and docs/operations.md's Docker
    part give a user the same commands (tests/e2e/test_compose_stack.py runs them)."""
    header = [
        line.lstrip("# ").split("  #")[0].strip()
        for line in COMPOSE_FILE.read_text().splitlines()
        if line.startswith("#   docker compose ")
    ]
    docker_part = CONFIGURATION_PAGE.read_text().split("## Docker\n")[1].split("\n## ")[0]
    documented = {line.split("  #")[0].strip() for line in docker_part.splitlines()}

    assert len(header) >= 5
    assert set(header) <= documented, set(header) - documented
    assert "docker-compose " not in docker_part.split("Tested:")[0]
