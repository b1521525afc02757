"""Shopflow spread over hosts (tests.support.hosts): a data host (PostgreSQL and Redis of
its own), a web host (migrate, web, the outbox relay, beat) and two worker hosts (worker
and mail). Each runs docker-compose.yml's own commands for its services, configured only
by environment, as a container would: production's settings, every address the data
host's, the mail server this process's. Customers are this process, over HTTP."""

import secrets
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import requests
import yaml

from tests.support.hosts import Network, postgres_cluster, redis_server
from tests.support.polling import wait_until

PROJECT_DIR = Path(__file__).resolve().parents[2]

# Short windows, so that each fault plays out in seconds: a worker's lease, an email's
# claim (the send cut at half of it), a side effect's deadline and the reconciler's
# schedule (beat, every 5 s).
WINDOWS = {
    "SHOPFLOW_TASK_LEASE_SECONDS": "3",
    "SHOPFLOW_EMAIL_CLAIM_SECONDS": "20",
    "SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS": "30",
    "SHOPFLOW_TASK_RETRY_BACKOFF": "1",
    "SHOPFLOW_TASK_RETRY_BACKOFF_MAX": "4",
}
RECONCILER_EVERY_SECONDS = 5
SERVICES = {"web": ["migrate", "web", "relay", "beat"], "worker": ["worker", "mail"]}


def compose_command(service: str) -> list[str]:
    """The service's command in docker-compose.yml, run by this Python."""
    compose = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())
    argv = shlex.split(compose["services"][service]["command"])
    if argv[0] == "python":  # python manage.py ...
        return [sys.executable, str(PROJECT_DIR / argv[1]), *argv[2:]]
    return [sys.executable, "-m", *argv]  # celery, gunicorn


class ShopOnHosts:
    def __init__(self, **environment: str):
        self.directory = Path(tempfile.mkdtemp(prefix="shop-on-hosts-"))
        self.directory.chmod(0o755)  # the data host's PostgreSQL runs as postgres
        self.network = Network()
        try:
            self.data = self.network.host("data")
            self.web = self.network.host("web")
            self.workers = [self.network.host(f"worker{n}") for n in (1, 2)]
        except BaseException:
            self.network.close()
            raise
        self.smtp_port = 0
        self.timeout = 30  # a customer's patience, per request
        self.checkout_seconds: list[float] = []  # how long each checkout took to answer
        self.environment = environment
        self.base = f"http://{self.web.ip}:8000"
        self.database_url = ""
        self.secret = secrets.token_urlsafe(50)  # the hosts' shared DJANGO_SECRET_KEY
        self.redis = None

    # --- starting ------------------------------------------------------------------------

    def start(self, smtp_port: int) -> "ShopOnHosts":
        """Everything started, mail going to this process's server on `smtp_port`."""
        self.smtp_port = smtp_port
        self.database_url = postgres_cluster(
            self.data, self.directory / "pg", self.directory / "postgres.log"
        )
        self.start_redis()
        self.run_to_end(self.web, compose_command("migrate"))
        self.run_to_end(self.web, [*compose_command("migrate")[:2], "load_demo_catalog"])
        self.reconciler_every(RECONCILER_EVERY_SECONDS)
        for service in SERVICES["web"][1:]:
            self.start_service(self.web, service)
        for host in self.workers:
            for service in SERVICES["worker"]:
                self.start_service(host, service)
        wait_until(self.answers, timeout=60, message=f"the web host; {self.log('web', 'web')}")
        for host in self.workers:
            for service in SERVICES["worker"]:
                wait_until(
                    lambda h=host, s=service: " ready." in self.log(h.name, s),
                    timeout=60,
                    message=f"{service} on {host.name}",
                )
        return self

    def start_redis(self) -> None:
        self.redis = redis_server(self.data, self.directory / "redis.log")

    def restart_redis_empty(self) -> None:
        [process] = [p for p in self.data.processes if "redis-server" in p.args]
        process.kill()
        process.wait()
        self.data.processes.remove(process)
        self.start_redis()

    def own(self, host) -> Path:
        """The host's own directory: its working directory (beat's pidfile) and home."""
        own = self.directory / host.name
        (own / "metrics").mkdir(parents=True, exist_ok=True)
        return own

    def env(self, host) -> dict[str, str]:
        own = self.own(host)
        return {
            "PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(own),
            "PYTHONPATH": str(PROJECT_DIR),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": self.secret,
            "DJANGO_ALLOWED_HOSTS": self.web.ip,
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_SECURE_COOKIES": "0",
            "SHOPFLOW_SITE_URL": self.base,
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": f"redis://{self.data.ip}:6379/0",
            "EMAIL_HOST": self.network.address,
            "EMAIL_PORT": str(self.smtp_port),
            "PROMETHEUS_MULTIPROC_DIR": str(own / "metrics"),
            "WEB_CONCURRENCY": "1",
            **WINDOWS,
            **self.environment,
        }

    def start_service(self, host, service: str) -> None:
        # A host of its own name, as each container has (celery names its node by it).
        argv = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host.name]
        log = self.directory / f"{host.name}-{service}.log"
        host.start(
            [*argv, *compose_command(service)], env=self.env(host), log=log, cwd=self.own(host)
        )

    def run_to_end(self, host, argv: list[str]) -> None:
        command = ["ip", "netns", "exec", host.ns, *argv]
        done = subprocess.run(
            command, env=self.env(host), cwd=self.own(host), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def reconciler_every(self, seconds: int) -> None:
        """As an operator would in the admin: beat's reconciler entry on a new interval."""
        code = (
            "from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks;"
            f"every, _ = IntervalSchedule.objects.get_or_create(every={seconds}, period='seconds');"
            "PeriodicTask.objects.filter(name='side effects reconciler').update(interval=every);"
            "PeriodicTasks.update_changed()"
        )
        self.run_to_end(self.web, [*compose_command("migrate")[:2], "shell", "-c", code])

    def answers(self) -> bool:
        try:
            return requests.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def log(self, host_name: str, service: str) -> str:
        path = self.directory / f"{host_name}-{service}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self, tail: int = 1500) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
            for path in sorted(self.directory.glob("*.log"))
        )

    def close(self) -> None:
        self.network.close()
        subprocess.run(["rm", "-rf", str(self.directory)], check=False)

    # --- what a test asks ---------------------------------------------------------------

    def query(self, sql: str, params=()) -> list[tuple]:
        with psycopg.connect(self.database_url, connect_timeout=5) as connection:
            return connection.execute(sql, params).fetchall()

    def customer(self, username: str) -> requests.Session:
        """A new customer's session, with a token."""
        api = requests.Session()
        login = {"username": username, "password": "apollo-11-ok"}
        body = {**login, "email": f"{username}@example.com"}
        response = api.post(f"{self.base}/api/auth/register/", json=body, timeout=self.timeout)
        assert response.status_code == 201, response.text
        token = api.post(f"{self.base}/api/auth/token/", json=login, timeout=self.timeout).json()[
            "token"
        ]
        api.headers["Authorization"] = f"Token {token}"
        return api

    def checkout(self, api: requests.Session, product_id: int, quantity: int = 1):
        """A cart with one line, checked out: the checkout's response."""
        cart = api.post(f"{self.base}/api/carts/", timeout=self.timeout).json()
        item = {"product_id": product_id, "quantity": quantity}
        added = api.post(
            f"{self.base}/api/carts/{cart['id']}/items/", json=item, timeout=self.timeout
        )
        assert added.ok, added.text
        body = {"cart_id": cart["id"]}
        response = api.post(f"{self.base}/api/orders/", json=body, timeout=self.timeout)
        self.checkout_seconds.append(response.elapsed.total_seconds())
        return response

    def side_effects(self, order_ids: list[int]) -> dict[int, dict[str, str]]:
        rows = self.query(
            "SELECT order_id, kind, status FROM side_effects_ordersideeffect"
            " WHERE order_id = ANY(%s)",
            (order_ids,),
        )
        effects: dict[int, dict[str, str]] = {order_id: {} for order_id in order_ids}
        for order_id, kind, status in rows:
            effects[order_id][kind] = status
        return effects
