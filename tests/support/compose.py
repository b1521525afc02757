"""The production-shaped Docker stack read offline (no Docker engine needed): its files,
Compose's interpolation, and checks that a command run in the Shopflow image names
modules, apps, options, queues and management commands that exist."""

import importlib
import importlib.util
import re
import shlex
from pathlib import Path

from celery import Celery
from celery.bin.celery import celery as celery_cli
from django.conf import settings
from django.core.management import get_commands
from gunicorn.config import KNOWN_SETTINGS

from tests.support import PROJECT_DIR

COMPOSE_FILE = PROJECT_DIR / "docker-compose.yml"
DOCKERFILE = PROJECT_DIR / "Dockerfile"
DOCKERIGNORE = PROJECT_DIR / ".dockerignore"
ENV_EXAMPLE = PROJECT_DIR / ".env.example"
SETTINGS_FILES = sorted((PROJECT_DIR / "config" / "settings").glob("*.py"))
CONFIGURATION_PAGE = PROJECT_DIR / "docs" / "operations.md"

APP_SERVICES = {"migrate", "web", "dispatcher", "worker", "mail", "webhooks", "beat", "flower"}
SERVICES_WITH_HEALTHCHECKS = {
    *("postgres", "redis", "web", "worker", "mail", "dispatcher", "beat", "flower"),
}
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
        assert not conf or (PROJECT_DIR / conf).is_file(), f"no Flower config {conf}"
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
    assert (PROJECT_DIR / "manage.py").is_file()
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
