import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection

from devstack import keys, services, stack

# What runstack printed once everything served, for `make credentials` (removed at stop).
RUN_FILE = "make-run.txt"


class Command(BaseCommand):
    help = (
        "Set up and run the whole stack: migrations, demo catalog, staff user, then web "
        "(gunicorn), a Celery worker on every queue, Celery beat and Flower; an embedded "
        "Redis when none answers. Ctrl-C or SIGTERM stops everything it started."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-demo", action="store_true", help="Skip the demo catalog.")

    def handle(self, *args, no_demo=False, **options):
        # What the run is given, checked before anything starts (the other methods read it
        # here, on the command): what the operator must fix stops us in one line.
        env = dict(os.environ)
        self.port = _port(env, "PORT", 8000)
        self.flower_port = _port(env, "FLOWER_PORT", 5555)
        # Workers, beat and Flower yield the CPU to the web server when the machine is
        # saturated: checkouts keep their latency, side effects wait in the queue (and are
        # then done in batches). Nothing waits when there is CPU to spare.
        nice = env.get("SHOPFLOW_BACKGROUND_NICE") or "10"
        if not nice.isdigit() or int(nice) > 19:
            raise CommandError(f"SHOPFLOW_BACKGROUND_NICE must be 0 to 19, not {nice!r}")
        self.nice = int(nice)
        # What make run makes once and keeps (keys, passwords, its Redis's data).
        self.var_dir = Path(env.get("SHOPFLOW_VAR_DIR") or settings.BASE_DIR / "var")
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.redis_dir = self.var_dir / "redis"
        self.embedded = stack.broker_for_run(env, self.redis_dir)
        self.flower_auth, self.flower_generated = services.flower_credentials(env, self.var_dir)
        services.worker_replicas(env)
        _database_answers()

        supervisor = stack.Stack(env=env, cwd=settings.BASE_DIR, out=sys.stdout)
        # During setup (migrations, collectstatic, starting services) Ctrl-C or SIGTERM
        # stops it at once; what was started is stopped on the way out. Once running,
        # they ask for an orderly stop.
        signal.signal(signal.SIGTERM, supervisor.handle_signal)
        signal.signal(signal.SIGINT, supervisor.handle_signal)
        self.metrics_dir = None
        try:
            status = self._run(supervisor, env=env, demo=not no_demo)
        except KeyboardInterrupt:  # from supervisor.handle_signal
            supervisor.say(f"runstack | {signal.Signals(supervisor.signum).name} during setup")
            status = 128 + supervisor.signum
        finally:
            supervisor.setting_up = False  # a second Ctrl-C must not cut the stop short
            (self.var_dir / RUN_FILE).unlink(missing_ok=True)
            supervisor.say("runstack | stopping every process")
            supervisor.stop()
            if self.metrics_dir:
                shutil.rmtree(self.metrics_dir, ignore_errors=True)
            supervisor.say("runstack | stopped")
        if status:
            sys.exit(status)

    def _run(self, supervisor, *, env, demo) -> int:
        """Set up (the embedded Redis, the database, the staff user), start the services,
        say where they are, and wait; the exit status."""
        embedded = self.embedded
        if embedded:
            supervisor.start("redis", embedded.argv(), infrastructure=True)
            if not stack.wait_for_redis(embedded.url, timeout=15):
                raise CommandError("the embedded Redis did not start")
            # Celery reads CELERY_BROKER_URL from the environment first: this process
            # (the staff user's welcome email) and the children all use the embedded one.
            env["CELERY_BROKER_URL"] = os.environ["CELERY_BROKER_URL"] = embedded.url
        broker = env.get("CELERY_BROKER_URL") or settings.CELERY_BROKER_URL
        var_dir = self.var_dir
        env.update(services.service_env(env, var_dir))
        # Links in emails (unsubscribe, the page) point at this stack, not at production's.
        if not env.get("SHOPFLOW_SITE_URL"):
            env["SHOPFLOW_SITE_URL"] = f"http://127.0.0.1:{self.port}"
        # The front door's link for staff: this stack's Flower.
        env.setdefault("SHOPFLOW_FLOWER_URL", f"http://127.0.0.1:{self.flower_port}/")
        self._prepare_database(demo=demo, env=env)
        admin_user, admin_password = self._ensure_staff_user(env)
        env["FLOWER_BASIC_AUTH"] = self.flower_auth
        if not env.get("PROMETHEUS_MULTIPROC_DIR"):
            self.metrics_dir = env["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir(var_dir / "metrics")
        for name, argv in services.service_argv(
            python=sys.executable, port=self.port, flower_port=self.flower_port, env=env
        ).items():
            # Flower keeps its own metrics (its /metrics), out of the services' directory.
            without = ("PROMETHEUS_MULTIPROC_DIR",) if name == "flower" else ()
            nice = services.service_nice(name, self.nice)
            ready = services.READY.get(name.split("-")[0], "")
            supervisor.start(name, argv, nice=nice, without=without, ready_marker=ready)
        supervisor.setting_up = False
        # Where things are, as the last lines once every service serves (not scrolled
        # away by their start-up output), and in var/ for `make credentials`.
        if starting := supervisor.wait_ready(timeout=120):
            supervisor.say(f"runstack | still starting after 120 s: {', '.join(starting)}")
        if embedded:
            broker = f"{broker} (embedded: make run's own Redis, its data in {self.redis_dir})"
        where = self._where(admin_user, admin_password, broker)
        (var_dir / RUN_FILE).touch(mode=0o600)  # credentials: the owner's alone
        (var_dir / RUN_FILE).write_text(where)
        supervisor.say(where)
        return supervisor.wait()

    def _prepare_database(self, *, demo: bool, env: dict[str, str]) -> None:
        # Also writes the beat schedule's missing entries (worker's post_migrate receiver).
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        if demo:
            call_command("load_demo_catalog", stdout=self.stdout)
        # With the services' settings (DEBUG off, always: hashed names and a manifest), in
        # a process of its own: this one may run with DEBUG on.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity=0"],
            cwd=settings.BASE_DIR,
            env=env,
            check=True,
        )

    def _ensure_staff_user(self, env) -> tuple[str, str | None]:
        """The staff user for the admin and its password: SHOPFLOW_ADMIN_PASSWORD, else one
        generated once and kept in var/; None when the user changed it since."""
        username = env.get("SHOPFLOW_ADMIN_USERNAME", "admin")
        configured = env.get("SHOPFLOW_ADMIN_PASSWORD") or None
        password = configured or keys.password(self.var_dir / "admin_password")
        user_model = get_user_model()
        # No transaction around it: a password is hashed at production's cost (a second,
        # several on a loaded machine), longer than PostgreSQL lets a transaction idle.
        user = user_model.objects.filter(username=username).first()
        if user is None:
            email = env.get("SHOPFLOW_ADMIN_EMAIL", "admin@shopflow.local")
            user_model.objects.create_superuser(username, email, password)
        elif not user.check_password(password):
            if not configured:
                return username, None
            user.set_password(password)
            user.save(update_fields=["password"])
        return username, password

    def _where(self, admin_user, admin_password, broker) -> str:
        port, flower_port = self.port, self.flower_port
        admin_secret = admin_password or "(changed since; set SHOPFLOW_ADMIN_PASSWORD to reset)"
        flower_auth = self.flower_auth if self.flower_generated else "as set in FLOWER_BASIC_AUTH"
        lines = [
            "",
            "Shopflow is running:",
            f"  Shop     http://127.0.0.1:{port}/shop/  (the catalog; log in or sign up to order)",
            f"  API      http://127.0.0.1:{port}/api/  (docs: /api/docs/)",
            f"  Notifications http://127.0.0.1:{port}/account/notifications/ (log in)",
            f"  Health   http://127.0.0.1:{port}/healthz",
            f"  Metrics  http://127.0.0.1:{port}/metrics  (Prometheus; Flower's basic auth "
            "or a staff login)",
            f"  Admin    http://127.0.0.1:{port}/admin/",
            f"           user {admin_user}, password {admin_secret}",
            f"  Flower   http://127.0.0.1:{flower_port}/",
            f"           basic auth {flower_auth}",
            f"  Broker   {broker}",
            f"  Database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]} "
            f"{settings.DATABASES['default']['NAME']}",
            "Ctrl-C stops everything; `make credentials` prints this again.",
            "",
        ]
        return "\n".join(lines)


def _port(env: dict[str, str], name: str, default: int) -> int:
    value = env.get(name) or str(default)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise CommandError(f"{name} must be a port number, not {value!r}")
    if not stack.port_is_free(int(value)):
        raise CommandError(f"{name} {value} is already in use; set {name} to a free port")
    return int(value)


def _metrics_dir(parent: Path) -> str:
    """A directory of this stack's own under `parent` (removed when it stops), where its
    services write their Prometheus counts (the web's /metrics sums them): counts start at
    zero with the stack, as Prometheus expects of a restart, and two stacks (the
    benchmark's) never mix theirs."""
    parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(prefix="stack-", dir=parent)


def _database_answers() -> None:
    """CommandError, one line, when the database cannot be reached (its server down or
    unknown, the database not created, the credentials refused): before anything starts,
    not as a migration's traceback."""
    try:
        connection.ensure_connection()
    except OperationalError as exc:
        db = connection.settings_dict
        where = db["NAME"] if db["ENGINE"].endswith("sqlite3") else f"{db['HOST']}/{db['NAME']}"
        reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        raise CommandError(
            f"the database {where} cannot be reached: {reason or type(exc).__name__} "
            "(DATABASE_URL; docs/operations.md)"
        ) from None
