"""What `make run` runs: the services' commands (as docker-compose.yml runs them too), and
the environment they get on one machine."""

import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from . import keys
from .stack import options_argv


def flower_credentials(env: dict[str, str], var_dir: Path) -> tuple[str, bool]:
    """(user:password[,user:password...], generated?): generated once and kept in var/
    unless configured. Flower compares the raw string, so an empty user or password would
    let anyone in with an empty field."""
    configured = env.get("FLOWER_BASIC_AUTH", "").strip()
    if not configured:
        return f"admin:{keys.password(var_dir / 'flower_password')}", True
    for entry in configured.split(","):
        user, _, password = entry.partition(":")
        if not user.strip() or not password.strip():
            raise CommandError("FLOWER_BASIC_AUTH must be user:password (both non-empty)")
    return configured, False


def service_env(env: dict[str, str], var_dir: Path) -> dict[str, str]:
    """What the services of `make run` need on top of the caller's environment: DEBUG off,
    always (DEBUG wraps every query in a recording cursor; runstack's own setup runs with
    DJANGO_DEBUG=1, which is no reason for the services to), with the values production
    requires filled in for one machine (see `development_defaults`), and no HTTPS
    redirect or HTTPS-only cookies, since the stack serves plain HTTP on 127.0.0.1. For
    those, whatever the caller set wins (a VAPID key pair: its private key; a public key
    set alone is replaced with the generated pair's)."""
    plain_http = {"DJANGO_SECURE_SSL_REDIRECT": "0", "DJANGO_SECURE_COOKIES": "0"}
    unset = {k: v for k, v in plain_http.items() if not env.get(k)}
    # Production's settings, whichever module runstack's own setup runs with.
    production = {"DJANGO_DEBUG": "0", "DJANGO_SETTINGS_MODULE": "config.settings.production"}
    return {**unset, **development_defaults(env, var_dir), **production}


def development_defaults(env: dict[str, str], var_dir: Path) -> dict[str, str]:
    """The values production must be given, as `make run` chooses them on one machine when
    the caller did not: the SQLite file the development settings use, emails printed to
    the mail worker's output, and a secret key generated once and kept in var/ (sessions
    survive a restart)."""
    chosen = {}
    if not env.get("DATABASE_URL", "").strip():
        chosen["DATABASE_URL"] = f"sqlite:///{settings.DATABASES['default']['NAME']}"
    if not env.get("EMAIL_HOST", "").strip() and not env.get("EMAIL_BACKEND", "").strip():
        chosen["EMAIL_BACKEND"] = "django.core.mail.backends.console.EmailBackend"
    if not env.get("DJANGO_SECRET_KEY", "").strip():
        chosen["DJANGO_SECRET_KEY"] = keys.secret_key(var_dir / "secret_key")
    if not env.get("VAPID_PRIVATE_KEY", "").strip():
        chosen.update(keys.vapid_keys(var_dir / "vapid_private_key"))
    return chosen


# What each service prints once it serves: runstack says where things are after them all.
READY = {
    "web": "Application startup complete",
    "worker": " ready.",
    "mail": " ready.",
    "webhooks": " ready.",
    "dispatcher": "dispatcher ready.",
    "beat": "Scheduler: ",  # worker.beat: it sends, or it stands by
    "flower": "Visit me at",
}


def service_nice(name: str, background: int) -> int:
    """How far a service yields the CPU (`background` is SHOPFLOW_BACKGROUND_NICE): the web
    not at all; the dispatcher and email half as far as the rest (why: docs/operations.md)."""
    if name == "web":
        return 0
    if name.split("-")[0] in ("mail", "dispatcher"):  # "mail", "mail-2", ... (WORKER_REPLICAS)
        return background // 2
    return background


def worker_replicas(env: dict[str, str]) -> int:
    """WORKER_REPLICAS: how many copies of each worker service (worker, mail, webhooks) run, as
    `docker compose up --scale worker=N --scale mail=N` makes them; by default one per
    four cores (email in one process is one GIL: docs/operations.md)."""
    value = env.get("WORKER_REPLICAS", "").strip()
    if not value:
        return max(1, (os.cpu_count() or 1) // 4)
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise CommandError(f"WORKER_REPLICAS must be 1 to 64, not {value!r}")
    return int(value)


def service_argv(*, python: str, port: int, flower_port: int, env: dict[str, str]):
    """The commands, as docker-compose.yml runs them too; each worker service
    `worker_replicas` times (`_workers`). Sizes come from `env`."""
    beat_schedule = Path(tempfile.gettempdir()) / f"shopflow-beat-{os.getpid()}"
    celery = [python, "-m", "celery", "-A", "worker"]
    return {
        "web": _web_argv(python=python, port=port, env=env),
        **_workers(celery, env),
        # Wakes each kind's workers while it has due jobs (worker.dispatcher).
        "dispatcher": [python, "manage.py", "dispatch"],
        "beat": [
            *celery,
            "beat",
            *options_argv(
                ("--loglevel", "INFO"),
                ("--scheduler", "worker.beat:Scheduler"),
                ("--schedule", str(beat_schedule)),
            ),
            "--pidfile=",
        ],
        # Credentials reach Flower as FLOWER_BASIC_AUTH in its environment, not in argv;
        # its task events follow the workers' switch (worker/flowerconfig.py).
        "flower": [
            *celery,
            "flower",
            "--address=127.0.0.1",
            f"--port={flower_port}",
            "--conf=worker/flowerconfig.py",  # the services run in the project directory
        ],
    }


def _workers(celery: list[str], env: dict[str, str]) -> dict[str, list[str]]:
    """Each worker service `worker_replicas` times ("worker", "worker-2", ...), each replica
    a Celery node of its own."""
    workers = {
        # Stock, analytics and scheduled work: short database tasks, a process a core
        # (Celery's default, as in docker-compose): one alone cleared a burst's backlog
        # half as fast (docs/performance.md).
        "worker": (
            "default,inventory,analytics",
            env.get("WORKER_POOL", "prefork"),
            env.get("WORKER_CONCURRENCY", str(os.cpu_count() or 1)),
        ),
        # Email waits on the SMTP server: many threads, each with its own connection.
        "mail": ("emails", "threads", env.get("EMAIL_WORKER_CONCURRENCY", "16")),
        # Webhooks wait on other people's servers: threads too, 4 at most per endpoint
        # (webhooks.services.sending), so one slow endpoint leaves the others theirs.
        "webhooks": ("webhooks", "threads", env.get("WEBHOOK_WORKER_CONCURRENCY", "16")),
    }
    commands = {}
    for name, (queues, pool, concurrency) in workers.items():
        for n in range(1, worker_replicas(env) + 1):
            commands[name if n == 1 else f"{name}-{n}"] = [
                *celery,
                "worker",
                *options_argv(
                    ("-Q", queues),
                    ("--loglevel", "INFO"),
                    ("--pool", pool),
                    ("--concurrency", concurrency),
                    ("-n", f"{name}{n}-{os.getpid()}@%h"),
                ),
            ]
    return commands


def _web_argv(*, python: str, port: int, env: dict[str, str]) -> list[str]:
    """uvicorn workers: the API in a pool of WEB_THREADS threads per process, async views
    (streams) on the event loop, one port (see config.asgi)."""
    gunicorn = [python, "-m", "gunicorn", "config.asgi:application"]
    return [
        *gunicorn,
        *options_argv(
            ("--worker-class", "config.web_worker.WebWorker"),
            ("--bind", f"127.0.0.1:{port}"),
            ("--workers", env.get("WEB_CONCURRENCY", "2")),
        ),
        # A listening socket per process, which the kernel spreads new connections over: on
        # one shared socket the first process to wake accepted a whole burst of keep-alive
        # clients (gunicorn makes them in the workers with this flag).
        "--reuse-port",
        *(["--access-logfile", "-"] if env.get("WEB_ACCESS_LOG") == "1" else []),
        # One shared ~/.gunicorn/gunicorn.ctl would clash between two stacks.
        "--no-control-socket",
    ]
