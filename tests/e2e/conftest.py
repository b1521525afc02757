"""End-to-end fixtures: the machine's Chromium, and web processes served as in production."""

import shutil
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from tests.support.brokers import channel_layer_on
from tests.support.clients import PASSWORD
from tests.support.clocks import clock_from_env
from tests.support.parts import part_missing
from tests.support.pgbouncer import POOL_SIZE, PgBouncer
from tests.support.processes import (
    WebProcess,
    WorkerProcess,
    subprocess_env,
    worker_env,
)
from tests.support.streams import LiveOverSocket, LiveOverStream

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def browser(monkeypatch):
    if not shutil.which(CHROMIUM):
        part_missing("needs Chromium at /usr/bin/chromium (CI installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # are still synchronous ones, which Django would otherwise refuse.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # With that loop running, Django keeps this thread's connections apart from the
        # ones it keeps without it (asgiref's Local: a context variable, not the thread
        # local), so the test's connection is not the one pytest-django closes: left
        # open, it kept the test database from being dropped at the end of the run.
        connections.close_all()


@pytest.fixture
def person(settings):
    """`person(**fields)`: a user who can log in on a web process with PASSWORD."""
    from tests.factories import UserFactory

    # A hash the web process can check (the tests' own hasher is a fast one).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]

    def make(**fields):
        user = UserFactory(**fields)
        user.set_password(PASSWORD)
        user.save()
        return user

    return make


@pytest.fixture
def shopper(person):
    return person()


@pytest.fixture
def web_env(broker_url, settings):
    """A web process's environment: this test's database and Redis (the broker's, also
    the channel layer's, which this process publishes to as well)."""
    channel_layer_on(settings, broker_url)
    return subprocess_env(
        CELERY_BROKER_URL=broker_url,
        CHANNEL_LAYER_URL=broker_url,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        SHOPFLOW_STREAM_HEARTBEAT_SECONDS="1",
    )


@pytest.fixture
def web(web_env, tmp_path):
    """Start web processes (gunicorn + uvicorn, one worker each), `web(port=...)` on a
    dead one's port; all stopped after."""
    started = []

    def start(port: int | None = None, **overrides) -> WebProcess:
        env = {**web_env, **{key: str(value) for key, value in overrides.items()}}
        process = WebProcess(env, tmp_path / f"web-{len(started)}.log", port).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def noon_yesterday(wall_clock, web_env):
    """This process's clock (timezone.now) still at yesterday's noon, local, and the
    environment of a web process whose wall clock starts there (`web(**noon_yesterday)`):
    a test of what "today" shows reads one day on both sides, even run across midnight.
    In the past, so the process's clock is never ahead of the machine's."""
    noon = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    wall_clock.now = noon - timedelta(days=1)
    return clock_from_env(web_env, wall_clock.now)


@pytest.fixture
def worker_process(stoppable_broker, smtp_server, tmp_path, dispatcher_process):
    """`celery worker` and the dispatcher on a broker the test may stop: Redis, and
    RabbitMQ (the same code)."""
    env = worker_env(stoppable_broker, smtp_server, SHOPFLOW_TASK_MAX_RETRIES=3)
    dispatcher_process(env)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    yield worker
    worker.stop()


# The queues of an order's side effects and its webhooks: every one the `workers` consume.
EVERY_QUEUE = "default,emails,inventory,analytics,webhooks"


@pytest.fixture
def workers(tmp_path):
    """`workers(env, name, **options)`: a `celery worker` on every queue; stopped after."""
    started = []

    def start(env, name: str = "worker", **options) -> WorkerProcess:
        options.setdefault("queues", EVERY_QUEUE)
        started.append(WorkerProcess(env, tmp_path / f"{name}.log", **options).start())
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(params=[LiveOverSocket, LiveOverStream], ids=lambda c: c.transport)
def live(request):
    """Open a person's live notifications on a web process, over each transport in turn:
    `live(process, user, last_id=None)`; closed after the test."""
    opened = []

    def open_live(process, user, last_id: int | None = None):
        opened.append(request.param(process.base, user, last_id))
        return opened[-1]

    yield open_live
    for client in opened:
        client.close()


@pytest.fixture
def pgbouncer():
    """PgBouncer in transaction pooling mode before this test's PostgreSQL, POOL_SIZE
    server connections at most."""
    if not shutil.which("pgbouncer"):
        part_missing("needs Debian's pgbouncer (CI installs it)")
    bouncer = PgBouncer(pool_size=POOL_SIZE).start()
    yield bouncer
    bouncer.stop()
