"""The production-shaped Docker stack, checked offline (no Docker engine needed).

docker-compose.yml must match the Compose specification, every command it runs in the
Shopflow image must name modules, apps, options, queues and management commands that
exist, the stack keeps its operational promises (durable Redis, one beat, scalable
workers, ordered start-up, health checks), and neither .env.example nor the Dockerfile
carries a real secret.
"""

import importlib
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from celery import Celery
from celery.bin.celery import celery as celery_cli
from django.conf import settings
from django.core.management import get_commands
from gunicorn.config import KNOWN_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
SETTINGS_FILES = sorted((ROOT / "core" / "settings").glob("*.py"))
CONFIGURATION_PAGE = ROOT / "docs" / "operations.md"

APP_SERVICES = {"migrate", "web", "relay", "worker", "mail", "beat", "flower"}
SERVICES_WITH_HEALTHCHECKS = {"postgres", "redis", "web", "worker", "mail", "flower"}
DEPENDS_ON_CONDITIONS = {
    "service_started",
    "service_healthy",
    "service_completed_successfully",
}
PLACEHOLDER = "change-me"

# Compose interpolation: $$ is a literal $, then ${VAR}, ${VAR:-default}, ${VAR:?error},
# ${VAR-default}, ${VAR+alt}, ... and the unbraced $VAR.
ESCAPED_DOLLAR = "$$"
VARIABLE = re.compile(
    r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?::?[-?+])[^}]*)?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


# --- helpers ----------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a dotenv file (comments and blank lines skipped, quotes removed)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """What compose does to a string before using it: substitute variables, unescape $$."""
    parts = text.split(ESCAPED_DOLLAR)
    substituted = [
        VARIABLE.sub(lambda m: env.get(m["braced"] or m["bare"], ""), part) for part in parts
    ]
    return "$".join(substituted)


def referenced_variables(node) -> set[str]:
    """Every variable that compose would interpolate anywhere in a parsed compose file."""
    if isinstance(node, dict):
        return set().union(*(referenced_variables(v) for v in node.values()), set())
    if isinstance(node, list):
        return set().union(*(referenced_variables(v) for v in node), set())
    if isinstance(node, str):
        names = set()
        for part in node.split(ESCAPED_DOLLAR):
            names |= {m["braced"] or m["bare"] for m in VARIABLE.finditer(part)}
        return names
    return set()


def argv_of(command, env: dict[str, str]) -> list[str]:
    """A compose command (string or list) as the argv the container gets."""
    if isinstance(command, str):
        return shlex.split(interpolate(command, env))
    return [interpolate(str(arg), env) for arg in command]


def option_value(argv: list[str], *names: str) -> str | None:
    """The value of `--name value`, `--name=value` or `-n value` in argv, or None."""
    for index, arg in enumerate(argv):
        for name in names:
            if arg == name and index + 1 < len(argv):
                return argv[index + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def option_names(argv: list[str]) -> list[str]:
    return [arg.split("=", 1)[0] for arg in argv if arg.startswith("-") and arg != "-"]


def click_options(command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def check_celery_command(argv: list[str]) -> None:
    """`celery -A X <subcommand> ...`: the app, the subcommand and its options exist."""
    assert argv[0] == "celery", argv
    app_module = option_value(argv, "-A", "--app")
    assert app_module, f"{argv}: celery needs -A <module>"
    module = importlib.import_module(app_module)
    assert isinstance(getattr(module, "app", None), Celery), f"{app_module}.app is no Celery app"

    global_options = click_options(celery_cli)
    subcommand = next(
        arg
        for index, arg in enumerate(argv[1:], start=1)
        if not arg.startswith("-") and argv[index - 1] not in global_options
    )
    assert subcommand in celery_cli.commands, f"unknown celery subcommand {subcommand!r}"

    if subcommand == "flower":  # Flower's own options are tornado options.
        import flower.options  # noqa: F401  (defines them)
        from tornado.options import options as tornado_options

        # Tornado takes either spelling of a name (Flower's docs use underscores).
        names = tornado_options.as_dict()
        tornado_names = {n.replace("_", "-") for n in names} | {n.replace("-", "_") for n in names}
        known = {f"--{name}" for name in tornado_names} | global_options
        conf = option_value(argv, "--conf")
        assert not conf or (ROOT / conf).is_file(), f"no Flower config {conf}"
    else:
        known = click_options(celery_cli.commands[subcommand]) | global_options
    unknown = [name for name in option_names(argv) if name not in known]
    assert not unknown, f"celery {subcommand} has no option {unknown}"

    scheduler = option_value(argv, "-S", "--scheduler")
    if scheduler:
        module_name, _, attr = scheduler.partition(":")
        scheduler_module = importlib.import_module(module_name)
        assert hasattr(scheduler_module, attr), f"{scheduler} does not exist"

    queues = option_value(argv, "-Q", "--queues")
    if queues:
        configured = {queue.name for queue in settings.CELERY_TASK_QUEUES}
        unknown_queues = set(queues.split(",")) - configured
        assert not unknown_queues, f"queues {unknown_queues} are not in CELERY_TASK_QUEUES"


def check_gunicorn_command(argv: list[str]) -> None:
    """`gunicorn module:attr ...`: the application and every option exist."""
    assert argv[0] == "gunicorn", argv
    known = {opt for setting in KNOWN_SETTINGS for opt in setting.cli or ()}
    unknown = [name for name in option_names(argv) if name not in known]
    assert not unknown, f"gunicorn has no option {unknown}"
    target = next(arg for arg in argv[1:] if ":" in arg and not arg.startswith("-"))
    module_name, _, attr = target.partition(":")
    assert importlib.util.find_spec(module_name) is not None, f"no module {module_name}"
    application = getattr(importlib.import_module(module_name), attr, None)
    assert callable(application), f"{target} is not an application callable"


def check_manage_py_command(argv: list[str]) -> None:
    assert argv[:2] == ["python", "manage.py"], argv
    assert (ROOT / "manage.py").is_file()
    assert argv[2] in get_commands(), f"no management command {argv[2]!r}"


def check_app_command(argv: list[str]) -> None:
    checkers = {
        "celery": check_celery_command,
        "gunicorn": check_gunicorn_command,
        "python": check_manage_py_command,
    }
    assert argv and argv[0] in checkers, f"unexpected program in {argv}"
    checkers[argv[0]](argv)


def healthcheck_argv(healthcheck: dict) -> tuple[str, list[str]]:
    test = healthcheck["test"]
    if isinstance(test, str):
        return "CMD-SHELL", [test]
    return test[0], list(test[1:])


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


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
    assert argv[:2] == ["gunicorn", "core.asgi:application"]
    assert option_value(argv, "--worker-class", "-k") == "core.web_worker.WebWorker"
    assert option_value(argv, "--bind", "-b") == "0.0.0.0:8000"
    assert "--reuse-port" in argv  # a socket per process: tests/e2e/test_web_tier.py
    assert "8000:8000" in services["web"]["ports"]


def test_migrate_runs_migrations_once_and_is_not_restarted(services, env_example):
    argv = argv_of(services["migrate"]["command"], env_example)
    assert argv == ["python", "manage.py", "migrate", "--noinput"]
    # A one-shot job with a restart policy would run forever and never "complete".
    assert services["migrate"].get("restart", "no") == "no"


def test_workers_consume_every_configured_queue_email_on_its_own_thread_pool(services, env_example):
    consumed = {}
    for name in ("worker", "mail"):
        argv = argv_of(services[name]["command"], env_example)
        consumed[name] = set(option_value(argv, "-Q", "--queues").split(","))
        # Task events follow the settings' switch (CELERY_WORKER_SEND_TASK_EVENTS), not a flag.
        assert not {"-E", "--task-events", "--events"} & set(argv)
    configured = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert consumed["worker"] | consumed["mail"] == configured
    assert consumed["mail"] == {"emails"} and "emails" not in consumed["worker"]
    mail = argv_of(services["mail"]["command"], env_example)
    assert option_value(mail, "--pool", "-P") == "threads"


def test_background_services_yield_the_cpu_to_web_and_relay_and_email_less_than_the_rest(
    services,
):
    for name in ("relay", "worker", "mail", "beat", "flower"):
        assert services[name]["cpu_shares"] < services["web"].get("cpu_shares", 1024), name
    for name in ("worker", "beat", "flower"):
        assert services[name]["cpu_shares"] < services["mail"]["cpu_shares"], name
    assert services["relay"]["cpu_shares"] == services["mail"]["cpu_shares"]


def test_the_relay_runs_the_command_make_run_runs(services, env_example):
    from devstack import services as devstack_services

    argv = argv_of(services["relay"]["command"], env_example)
    ours = devstack_services.service_argv(python="python", port=8000, flower_port=5555, env={})
    assert argv == ours["relay"] == ["python", "manage.py", "relay_outbox"]


def test_beat_uses_the_database_scheduler(services, env_example):
    argv = argv_of(services["beat"]["command"], env_example)
    assert argv[:4] == ["celery", "-A", "worker", "beat"]
    scheduler = option_value(argv, "-S", "--scheduler")
    assert scheduler == "django_celery_beat.schedulers:DatabaseScheduler"


def test_flower_requires_basic_auth_from_the_environment_not_the_command_line(services):
    flower = services["flower"]
    assert "basic-auth" not in flower["command"]  # argv is visible to `ps`
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    # The app's own environment (database, broker) still reaches Flower.
    assert flower["environment"]["CELERY_BROKER_URL"] == "redis://redis:6379/0"


def test_flower_is_published_on_the_loopback_interface_only(services):
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]


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


def test_beat_runs_exactly_one_replica(services):
    beat = services["beat"]
    assert beat["deploy"]["replicas"] == 1
    assert beat.get("scale", 1) == 1


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
    for name in ("web", "relay", "worker", "beat"):
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


def test_python_healthchecks_probe_the_right_endpoint_and_compile(services):
    expected = {"web": "http://127.0.0.1:8000/healthz", "flower": "/healthcheck"}
    for name, url in expected.items():
        kind, args = healthcheck_argv(services[name]["healthcheck"])
        # The slim image has no curl: the probe is Python.
        assert kind == "CMD" and args[:2] == ["python", "-c"], args
        assert url in args[2]
        compile(args[2], f"{name} healthcheck", "exec")


@pytest.mark.parametrize("name", ["worker", "mail"])
def test_worker_healthcheck_pings_its_own_node(services, env_example, name):
    kind, args = healthcheck_argv(services[name]["healthcheck"])
    # $$ survives compose interpolation, so the container's shell expands $HOSTNAME.
    assert kind == "CMD-SHELL"
    assert "celery@$$HOSTNAME" in args[0]
    argv = shlex.split(interpolate(args[0], env_example))
    assert argv[3:5] == ["inspect", "ping"]
    assert option_value(argv, "-d", "--destination") == "celery@$HOSTNAME"
    check_celery_command(argv)


# --- .env.example --------------------------------------------------------------------------


def test_every_variable_the_compose_file_uses_is_in_env_example(compose, env_example):
    missing = referenced_variables(compose) - set(env_example)
    assert not missing, f"add {sorted(missing)} to .env.example"


@pytest.mark.parametrize("document", [ENV_EXAMPLE, CONFIGURATION_PAGE], ids=lambda p: p.name)
def test_every_variable_settings_read_is_documented(document):
    names = set(
        re.findall(
            r"""(?:environ(?:\.get)?\(|env_(?:bool|int|float|list)\()\s*["']([A-Z][A-Z0-9_]*)["']""",
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


# --- Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with backslash continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def test_dockerfile_runs_the_web_server_by_default(services, env_example):
    commands = [args for keyword, args in dockerfile_instructions() if keyword == "CMD"]
    assert commands, "the Dockerfile has no CMD"
    argv = json.loads(commands[-1])  # exec form: gunicorn gets the signals
    assert "core.asgi:application" in argv
    check_gunicorn_command(argv)
    assert argv == argv_of(services["web"]["command"], env_example)


def test_dockerfile_runs_as_a_non_root_user():
    users = [args for keyword, args in dockerfile_instructions() if keyword == "USER"]
    assert users, "the Dockerfile never leaves root"
    assert users[-1] not in {"root", "0", "0:0"}


def test_dockerfile_builds_for_production():
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("python:3.11-slim")
    env = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert "DJANGO_DEBUG=0" in env
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    assert any("pip install" in run and "requirements.txt" in run for run in runs)
    assert any("collectstatic --noinput" in run for run in runs)


def test_dockerfile_bakes_in_no_real_secret_key():
    for keyword, args in dockerfile_instructions():
        if "DJANGO_SECRET_KEY" not in args:
            continue
        # Only a RUN line may set it (ENV and ARG values stay in the image).
        assert keyword == "RUN", f"{keyword} {args}"
        for value in re.findall(r"DJANGO_SECRET_KEY=(\S+)", args):
            assert "build-only" in value or "not-secret" in value, value


def test_docker_build_context_leaves_out_local_state_and_secrets():
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in (".env", ".venv", ".git", "var/", "staticfiles/"):
        assert entry in ignored, f"add {entry} to .dockerignore"
    assert any("sqlite3" in entry for entry in ignored)
    assert any("__pycache__" in entry for entry in ignored)
