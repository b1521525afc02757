"""The whole stack as `make run` starts it (`manage.py runstack`), on this test's
database, broker and SMTP server, and a customer's checkout through its API."""

import contextlib
import signal
import subprocess
import sys

import psutil
import requests

from tests.support import PROJECT_DIR
from tests.support.polling import wait_until
from tests.support.processes import subprocess_env

FLOWER_AUTH = ("ops", "flower-test-secret")


def stack_env(smtp_server, broker_url, port: int, flower_port: int, **overrides) -> dict:
    """`make run`'s environment on this test's database, broker and SMTP server."""
    return subprocess_env(
        **{
            "CELERY_BROKER_URL": broker_url,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": smtp_server.port,
            "PORT": port,
            "FLOWER_PORT": flower_port,
            "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH),
            **overrides,
        }
    )


def runstack_process(env, log_path) -> subprocess.Popen:
    """`manage.py runstack` started, its output in `log_path`, its collectstatic and what it
    keeps (var/) beside it (another stack's would rewrite files a web process is serving,
    or its credentials)."""
    own = {
        "DJANGO_STATIC_ROOT": log_path.parent / "staticfiles",
        "SHOPFLOW_VAR_DIR": log_path.parent / "var",
    }
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "manage.py", "runstack"],
            cwd=PROJECT_DIR,
            env={**{key: str(value) for key, value in own.items()}, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@contextlib.contextmanager
def runstack(env, log_path, port, flower_port):
    """`manage.py runstack` as `make run` starts it; SIGTERM on the way out if needed."""
    process = runstack_process(env, log_path)
    running = Running(process, log_path, f"http://127.0.0.1:{port}", flower_port)
    try:
        # Its migrations, then longer than runstack's own wait for its services (120 s): one
        # that never starts is named in the log first. A loaded CI machine took over 90 s,
        # one running two suites at once over 180 s (behind PgBouncer's small pool).
        wait_until(running.ready, timeout=300, message="the stack to answer")
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Running:
    def __init__(self, process, log_path, base, flower_port):
        self.process = process
        self.log_path = log_path
        self.base = base
        self.flower = f"http://127.0.0.1:{flower_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"runstack exited early:\n{self.log()[-4000:]}")
        try:
            web = requests.get(f"{self.base}/healthz", timeout=2).status_code == 200
            # Flower answers (its credentials are the test's, or make run's generated ones).
            health = requests.get(f"{self.flower}/healthcheck", timeout=2)
            flower = health.status_code == 401
        except requests.RequestException:
            # Refused, or accepted by the listening socket before the app has loaded.
            return False
        # Up as make run's user sees it: where things are, printed once every service serves.
        return web and flower and "Shopflow is running:" in self.log()

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)


# A request's bound for a stack on a loaded machine: a sign-up or a login hashes a password
# at production's cost (PBKDF2) and took over 10 s in CI, and in the compose stack beside a
# second suite.
REQUEST_TIMEOUT = 30


def checkout_as_a_new_customer(stack, username: str = "margaret") -> tuple[requests.Session, int]:
    """Register, take a token, fill a cart and check out, as the API docs' curl does."""
    api = requests.Session()
    login = {"username": username, "password": "apollo-11-ok"}
    body = {**login, "email": f"{username}@example.com"}

    def post(path, **kwargs):
        return api.post(f"{stack.base}{path}", timeout=REQUEST_TIMEOUT, **kwargs)

    response = post("/api/auth/register/", json=body)
    assert response.status_code == 201, response.text
    response = post("/api/auth/token/", json=login)
    assert response.status_code == 200, response.text
    api.headers["Authorization"] = f"Token {response.json()['token']}"

    product = api.get(f"{stack.base}/api/products/", timeout=REQUEST_TIMEOUT).json()["results"][0]
    cart = post("/api/carts/").json()
    assert post(
        f"/api/carts/{cart['id']}/items/", json={"product_id": product["id"], "quantity": 2}
    ).ok
    response = post("/api/orders/", json={"cart_id": cart["id"]})
    assert response.status_code == 201, response.text
    return api, response.json()["id"]


def side_effects_of(api, stack, order_id) -> dict:
    return api.get(f"{stack.base}/api/orders/{order_id}/", timeout=5).json()["side_effects"]
