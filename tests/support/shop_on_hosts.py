"""Shopflow spread over hosts (tests.support.hosts): a data host (PostgreSQL and Redis of
its own), a web host (migrate, web, the jobs' dispatcher, beat) and
two worker hosts (worker and mail). Each runs docker-compose.yml's own commands for its
services, configured only by environment, as a container would: production's settings,
every address the data host's (or the broker's given, RabbitMQ's), the mail server this
process's. Customers are this process, over HTTP."""

import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import redis
import requests
import yaml

from tests.support import PROJECT_DIR
from tests.support.hosts import Network, postgres_cluster, redis_server
from tests.support.polling import wait_until

# Production's windows (config/settings/windows.py's defaults, written out: what the bed
# measures is what production gets): a job's lease lapses 75 s after its claim (the
# database's clock) and the dispatcher wakes its kind again at once; a job still due 30 s
# after its wake-up is woken again (a wake-up lost); Redis gives an unacknowledged message
# back after 90 s, RabbitMQ drops a connection silent for two or three 10 s heartbeats; an
# SMTP send is cut at 15 s.
WINDOWS = {
    "SHOPFLOW_JOB_LEASE_SECONDS": "75",
    "SHOPFLOW_WAKE_AGAIN_SECONDS": "30",
    "CELERY_VISIBILITY_TIMEOUT": "90",
    "CELERY_BROKER_HEARTBEAT": "10",
    "SHOPFLOW_EMAIL_SEND_SECONDS": "15",
    # Only faster: a retry's backoff starts at 1 s, not 5. Its cap stays production's, so
    # that a retry waits as long as it asks (an email in flight: until its claim is stale).
    "SHOPFLOW_TASK_RETRY_BACKOFF": "1",
}
# kombu's Redis consumer asks for a message with one BRPOP of each of its queues at each
# of four priorities, then a timeout: the request of a worker consuming one queue begins so.
KOMBU_PRIORITIES = 4
SERVICES = {"web": ["migrate", "web", "dispatcher", "beat"], "worker": ["worker", "mail"]}
# An order's side effects: its jobs of these kinds, keyed by the order's id.
SIDE_EFFECT_KINDS = {"confirmation_email", "inventory", "analytics"}


def compose_command(service: str) -> list[str]:
    """The service's command in docker-compose.yml, run by this Python."""
    compose = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())
    argv = shlex.split(compose["services"][service]["command"])
    if argv[0] == "python":  # python manage.py ...
        return [sys.executable, str(PROJECT_DIR / argv[1]), *argv[2:]]
    return [sys.executable, "-m", *argv]  # celery, gunicorn


def brpop_of(queue: str) -> bytes:
    """The first bytes (RESP) of a BRPOP of a worker that consumes `queue` alone."""
    words = ["BRPOP", queue]
    return f"*{1 + KOMBU_PRIORITIES + 1}\r\n".encode() + b"".join(
        f"${len(word)}\r\n{word}\r\n".encode() for word in words
    )


class ShopOnHosts:
    def __init__(self, rabbitmq: tuple[int, str] | None = None, **environment: str):
        """The broker is the data host's Redis, or with `rabbitmq` (its port on this
        machine's loopback, a vhost) a RabbitMQ node of the test's, which the hosts reach
        through the bridge (Network.forward)."""
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
        self.redis = ""  # the data host's: the channel layer, and the broker but on RabbitMQ
        self.rabbitmq = rabbitmq
        self.broker = ""  # RabbitMQ's URL, with a vhost
        self.services: dict[tuple[str, str], subprocess.Popen] = {}

    # --- starting ------------------------------------------------------------------------

    def start(self, smtp_port: int) -> "ShopOnHosts":
        """Everything started, mail going to this process's server on `smtp_port`."""
        self.smtp_port = smtp_port
        self.database_url = postgres_cluster(
            self.data, self.directory / "pg", self.directory / "postgres.log"
        )
        self.start_redis()
        if self.rabbitmq:
            port, vhost = self.rabbitmq
            log = self.directory / "rabbitmq-forwarder.log"
            listen = self.network.forward(5672, f"127.0.0.1:{port}", log)
            self.broker = f"amqp://guest:guest@{listen}/{vhost}"
        self.run_to_end(self.web, compose_command("migrate"))
        self.run_to_end(self.web, [*compose_command("migrate")[:2], "load_demo_catalog"])
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
                    message=f"{service} on {host.name}; {self.log(host.name, service)[-3000:]}",
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
            "CELERY_BROKER_URL": self.broker or self.redis,
            "CHANNEL_LAYER_URL": self.redis,
            "EMAIL_HOST": self.network.address,
            "EMAIL_PORT": str(self.smtp_port),
            "PROMETHEUS_MULTIPROC_DIR": str(own / "metrics"),
            "WEB_CONCURRENCY": "1",
            **WINDOWS,
            **self.environment,
        }

    def start_service(self, host, service: str) -> None:
        # A hostname of its own, as each container has: <host>-<service> (celery names its
        # node by it, and RabbitMQ takes one node's control queue once).
        name = f"{host.name}-{service}"
        argv = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', name]
        log = self.directory / f"{host.name}-{service}.log"
        self.services[host.name, service] = host.start(
            [*argv, *compose_command(service)], env=self.env(host), log=log, cwd=self.own(host)
        )

    def freeze(self, host, service: str) -> None:
        """The service's processes stopped where they are (SIGSTOP): a paused VM's."""
        os.killpg(self.services[host.name, service].pid, signal.SIGSTOP)

    def thaw(self, host, service: str) -> None:
        os.killpg(self.services[host.name, service].pid, signal.SIGCONT)

    def run_to_end(self, host, argv: list[str]) -> None:
        command = ["ip", "netns", "exec", host.ns, *argv]
        done = subprocess.run(
            command, env=self.env(host), cwd=self.own(host), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr

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
        """Every host gone; its directory too (logs, data) unless DEBUG_KEEP_BED is set, for
        a look after a failure."""
        self.network.close()
        if not os.environ.get("DEBUG_KEEP_BED"):
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
        response = api.post(f"{self.base}/api/auth/token/", json=login, timeout=self.timeout)
        assert response.status_code == 200, f"{response.status_code} {response.text}"
        api.headers["Authorization"] = f"Token {response.json()['token']}"
        return api

    def checkout(self, api: requests.Session, product_id: int, quantity: int = 1):
        """A cart with one line, checked out: the checkout's response."""
        return self.order(api, self.cart(api, product_id, quantity))

    def cart(self, api: requests.Session, product_id: int, quantity: int = 1) -> str:
        """A new cart with one line: its id."""
        cart = api.post(f"{self.base}/api/carts/", timeout=self.timeout).json()
        item = {"product_id": product_id, "quantity": quantity}
        added = api.post(
            f"{self.base}/api/carts/{cart['id']}/items/", json=item, timeout=self.timeout
        )
        assert added.ok, f"{added.text}\n{self.log('web', 'web')[-4000:]}"  # 5xx: its traceback
        return cart["id"]

    def order(self, api: requests.Session, cart_id: str):
        """The cart checked out: the checkout's response."""
        body = {"cart_id": cart_id}
        response = api.post(f"{self.base}/api/orders/", json=body, timeout=self.timeout)
        self.checkout_seconds.append(response.elapsed.total_seconds())
        return response

    def broker_holds(self, queue: str, task_id: str) -> str:
        """Where the data host's Redis, as broker, holds the message of `task_id`: "ready"
        (in its queue), "unacked" (delivered to a consumer that has not acknowledged it:
        kombu's hash of those) or "" (nowhere)."""
        with redis.Redis.from_url(self.redis, socket_timeout=5) as client:
            ready = [json.loads(raw)["headers"] for raw in client.lrange(queue, 0, -1)]
            unacked = [json.loads(raw)[0]["headers"] for raw in client.hvals("unacked")]
        if any(headers["id"] == task_id for headers in ready):
            return "ready"
        if any(headers["id"] == task_id for headers in unacked):
            return "unacked"
        return ""

    def side_effects(self, order_ids: list[int]) -> dict[int, dict[str, str]]:
        """{order id: {kind: status}} of the orders' side-effect jobs (worker_job)."""
        rows = self.query(
            "SELECT key::int, kind, status FROM worker_job WHERE kind = ANY(%s) AND key = ANY(%s)",
            (sorted(SIDE_EFFECT_KINDS), [str(order_id) for order_id in order_ids]),
        )
        effects: dict[int, dict[str, str]] = {order_id: {} for order_id in order_ids}
        for order_id, kind, status in rows:
            effects[order_id][kind] = status
        return effects
