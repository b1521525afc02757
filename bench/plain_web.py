"""The plain design (bench/plain) started as `make run` starts Shopflow's web, for the
benchmark to load beside Shopflow: its database migrated and stocked, then gunicorn with
Shopflow's uvicorn worker class, WEB_CONCURRENCY processes (2 by default, as `make run`).
Its interface is ManagedStack's (bench/stack.py): `base`, `process` (the root of the
processes whose CPU counts), `log_path`, `wait_ready()`, `stop()`.

    stack = PlainStack(database_url=fresh_database(url, "plain"), email_port=sink.port)
    stack.wait_ready()

By hand, from the project's root (a database of its own: its tables are named as
Shopflow's, auth_user and store_product among them):

    export DJANGO_SETTINGS_MODULE=bench.plain.settings DATABASE_URL=postgres://.../plain \\
      EMAIL_HOST=127.0.0.1 EMAIL_PORT=2525
    python -m django migrate && python -m django load_plain_catalog --products 20
    python -m gunicorn bench.plain.asgi:application \\
      --worker-class config.web_worker.WebWorker --bind 127.0.0.1:8100 --workers 2 \\
      --reuse-port --no-control-socket
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request

from common import ROOT, WORK

from devstack.stack import free_port, options_argv

SETTINGS = "bench.plain.settings"


def plain_env(*, database_url: str, email_port: int, **extra: str) -> dict[str, str]:
    """The environment of the plain design's processes: its settings, its database, the
    SMTP server on loopback at `email_port`; `extra` on top (WEB_CONCURRENCY, ...)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "DATABASE_URL": database_url,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(email_port),
        "PYTHONUNBUFFERED": "1",
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


def plain_prepare(*, env: dict[str, str], products: int = 20, on_hand: int = 100_000_000):
    """Migrate the (fresh) database and create `products` with `on_hand` each."""
    django = [sys.executable, "-m", "django"]
    for argv in (
        [*django, "migrate", "--no-input", "-v", "0"],
        [*django, "load_plain_catalog", "--products", str(products), "--on-hand", str(on_hand)],
    ):
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv[2:4])} failed:\n{done.stderr[-3000:]}")


def plain_web_argv(*, port: int, workers: int) -> list[str]:
    """Shopflow's web command (devstack.services._web_argv), on the plain design's app."""
    return [
        *(sys.executable, "-m", "gunicorn", "bench.plain.asgi:application"),
        *options_argv(
            ("--worker-class", "config.web_worker.WebWorker"),
            ("--bind", f"127.0.0.1:{port}"),
            ("--workers", str(workers)),
        ),
        "--reuse-port",
        "--no-control-socket",
    ]


class PlainStack:
    """The plain design's web on a free port, its database prepared first."""

    def __init__(
        self, *, database_url: str, email_port: int, products: int = 20, log_dir=WORK, **extra
    ):
        self.env = plain_env(database_url=database_url, email_port=email_port, **extra)
        plain_prepare(env=self.env, products=products)
        self.workers = int(self.env.get("WEB_CONCURRENCY") or 2)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"plain-{self.port}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            plain_web_argv(port=self.port, workers=self.workers),
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        """Every worker started, and the catalog answers (the database with it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the plain design exited:\n{self.output()[-3000:]}")
            started = self.output().count("Application startup complete") >= self.workers
            if started and self.answers():
                return
            time.sleep(0.2)
        raise RuntimeError(f"the plain design did not come up; see {self.log_path}")

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/api/products/", timeout=5) as answer:
                return answer.status == 200
        except OSError:  # urllib's errors among them
            return False

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), then SIGKILL for its process group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
