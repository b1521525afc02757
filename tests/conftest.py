import os
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections
from rest_framework.test import APIClient

from core import after_response
from email_app import transport
from notifications import live
from tests.factories import ProductFactory, UserFactory
from tests.support import PROJECT_DIR
from tests.support.brokers import (
    RabbitMQ,
    RabbitMQNode,
    RedisServer,
    celery_broker,
    orphaned_brokers_reap,
)
from tests.support.clients import client_for
from tests.support.isolation import processes_forbidden
from tests.support.processes import DispatcherProcess, dispatcher_thread
from tests.support.smtp import SmtpServer
from worker.celery import app as celery_app_of_the_project

# The SQLite test database is a file (see settings) so worker subprocesses can open it.
(PROJECT_DIR / "var").mkdir(exist_ok=True)


def pytest_sessionstart(session):
    # Once a run, before any test starts a broker: what a killed run left behind goes.
    if not hasattr(session.config, "workerinput"):
        orphaned_brokers_reap()


@pytest.hookimpl(trylast=True)  # after pytest-django's order: its database tests, then the rest
def pytest_collection_modifyitems(config, items):
    on_postgres = connection.vendor == "postgresql"
    for item in items:
        if item.get_closest_marker("postgres") and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL"))
    # make test's pass on SQLite collects the modules whose text marks them (the Makefile's
    # grep): a test marked sqlite_too another way would be left out of it unseen.
    marked = {item.path for item in items if item.get_closest_marker("sqlite_too")}
    unseen = [path for path in marked if "mark.sqlite_too" not in path.read_text()]
    if unseen:
        raise pytest.UsageError(f"write pytest.mark.sqlite_too in {unseen[0]} (Makefile)")
    # The tests that use no test database first: the long waits among them (the hosts, the
    # compose stack) start while the processes beside them compute. The database tests keep
    # pytest-django's order (a transactional test empties the tables the others read).
    items.sort(key=lambda item: "django_db" in item.keywords or "db" in item.fixturenames)


# --- The two tiers ----------------------------------------------------------------
# `make test-fast` runs the tests not marked `slow`: they start no process beyond this
# process's Redis (one that does fails there: SHOPFLOW_TEST_TIER=fast) and serve no live
# HTTP server. Every test in these folders is slow, and every one on RabbitMQ; elsewhere a
# module or a test says so itself.
PROCESS_FOLDERS = {"e2e", "integration", "deploy", "devstack"}
# A Celery worker, a broker the test stops, a live HTTP server: slow wherever they are.
SLOW_FIXTURES = {
    "dispatcher_process",
    "in_process_worker",
    "in_process_consumer",
    "own_redis",
    "stoppable_broker",
    "rabbitmq_node",
    "live_server",
}


def pytest_itemcollected(item):
    slow = Path(item.path).parent.name in PROCESS_FOLDERS or item.get_closest_marker("rabbitmq")
    if slow or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
        item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _fast_tier_starts_no_process(request):
    fast = os.environ.get("SHOPFLOW_TEST_TIER") == "fast"
    if not fast or request.node.get_closest_marker("slow"):
        yield
        return
    with processes_forbidden():
        yield


# --- Broker -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def broker_url():
    """A redis-server this test process starts and stops: no test touches a Redis it did
    not start (a developer's `make run`, another checkout's suite)."""
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session", autouse=True)
def _celery_uses_test_broker(broker_url):
    # Celery prefers CELERY_BROKER_URL from the environment to any app's own config: gone,
    # each app here (the project's, the plugin's worker app) uses its own. Subprocesses
    # are given theirs explicitly.
    os.environ.pop("CELERY_BROKER_URL", None)
    celery_app_of_the_project.conf.broker_url = broker_url
    # Worker threads must not keep connections to the test database between tests.
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    yield


@pytest.fixture
def own_redis():
    """A Redis server this test owns, so it can stop it, and the app pointed at it."""
    server = RedisServer().start()
    with celery_broker(server.url):
        yield server
    server.stop()


@pytest.fixture(scope="session")
def rabbitmq_node():
    """This test process's RabbitMQ node, started when a test first asks for it."""
    node = RabbitMQNode()
    try:
        yield node.start()
    finally:
        node.close()


# Celery promises the same code on Redis and RabbitMQ: broker tests run on both.
BROKERS = [
    pytest.param("redis", id="redis"),
    pytest.param("rabbitmq", id="rabbitmq", marks=pytest.mark.rabbitmq),
]


@pytest.fixture(params=BROKERS)
def stoppable_broker(request):
    """A broker the test may stop and start, the app pointed at it, its queues empty:
    a Redis server of the test's own, or the process's RabbitMQ node (`stop_app`)."""
    if request.param == "rabbitmq":
        server = RabbitMQ(request.getfixturevalue("rabbitmq_node"))
        server.purge()
    else:
        server = RedisServer().start()
    try:
        with celery_broker(server.url):
            yield server
    finally:
        server.close()


@pytest.fixture
def monotonic_clock(monkeypatch):
    """core.clock.monotonic, still until the test advances it: budgets, send deadlines,
    pauses and cache ages pass when the test says, not by sleeping."""
    from core import clock
    from tests.support.clocks import SteppedClock

    stepped = SteppedClock()
    monkeypatch.setattr(clock, "monotonic", stepped)
    return stepped


@pytest.fixture
def wall_clock(monkeypatch):
    """django.utils.timezone.now, still at this moment until the test sets or advances it:
    an account's age, a window of the last minutes, pass when the test says."""
    from django.utils import timezone

    from tests.support.clocks import SteppedWallClock

    stepped = SteppedWallClock(timezone.now())
    monkeypatch.setattr(timezone, "now", stepped)
    return stepped


@pytest.fixture
def fast_retries(settings):
    settings.SHOPFLOW_TASK_RETRY_BACKOFF = 1
    settings.SHOPFLOW_TASK_RETRY_BACKOFF_MAX = 2
    settings.SHOPFLOW_TASK_MAX_RETRIES = 3
    return settings


# --- pytest-celery (celery.contrib.pytest) -------------------------------------------
# The plugin's session worker runs in a thread of this process, on an app the plugin builds
# from `celery_config`: the project's own Celery settings, and a broker of its own (a
# Redis database no other test publishes to). A test that wants it asks for
# `in_process_worker`, which points the project's app at that broker for the test.
# (pytest-celery's own `celery_worker` is its Docker-based fixture: no Docker engine here.)


@pytest.fixture(scope="session")
def worker_broker_url(broker_url):
    return broker_url.removesuffix("/0") + "/1"  # the session's own server, another database


@pytest.fixture(scope="session")
def celery_config(worker_broker_url):
    """Every CELERY_* setting, as the project's app reads them, and the worker's broker."""
    config = {
        name.removeprefix("CELERY_").lower(): getattr(settings, name)
        for name in dir(settings)
        if name.startswith("CELERY_")
    }
    return {**config, "broker_url": worker_broker_url}


@pytest.fixture(scope="session")
def celery_includes():
    """Every app's tasks module, imported before the worker starts (it maps task names to
    handlers once, at start; a web process imports some of them only when first used)."""
    from importlib.util import find_spec

    from django.apps import apps

    modules = [f"{config.name}.tasks" for config in apps.get_app_configs()]
    return [module for module in modules if find_spec(module)]


@pytest.fixture(scope="session")
def celery_worker_parameters():
    return {
        "queues": ["default", "emails", "inventory", "analytics", "webhooks"],
        "perform_ping_check": False,
        "loglevel": "WARNING",
        "shutdown_timeout": 30,
    }


@pytest.fixture
def in_process_consumer(celery_session_app, celery_session_worker, transactional_db, fast_retries):
    """The session worker for one test: the project's app publishes to its broker, its
    queues start empty, the database is transactional (the worker sees only what is
    committed) and retries wait a second or two. Nothing wakes the workers: the test does
    (worker.dispatcher.Dispatcher().tick(), or tests.support.jobs.jobs_run here)."""
    with celery_broker(celery_session_app.conf.broker_url):
        celery_session_app.control.purge()
        yield celery_session_worker


@pytest.fixture
def dispatcher_process(tmp_path):
    """Start `manage.py dispatch` with an environment; stopped after the test."""
    started = []

    def start(env) -> DispatcherProcess:
        started.append(DispatcherProcess(env, tmp_path / f"dispatcher-{len(started)}.log").start())
        return started[-1]

    yield start
    for dispatcher in started:
        dispatcher.stop()


@pytest.fixture
def in_process_worker(in_process_consumer):
    """The session worker and the dispatcher in a thread: what checkouts commit flows to
    the worker as it does in `make run`."""
    with dispatcher_thread():
        yield in_process_consumer


# --- SMTP ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def mail_connections_dropped():
    """email_app.transport keeps a mail connection per thread, opened with the settings of
    its time, which tests change: each test starts with none kept, in any thread (the
    in-process worker's too)."""
    transport._close()
    transport._local = threading.local()


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server (aiosmtpd) and Django pointed at it."""
    with SmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = server.port
        settings.EMAIL_TIMEOUT = 5
        yield server


# --- Users and API clients ------------------------------------------------------------


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def customer(user):
    return user.customer


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def client(user):
    return client_for(user)


@pytest.fixture
def product(db):
    return ProductFactory(price="12.50", on_hand=20)


@pytest.fixture(autouse=True)
def _no_request_hold_left_behind():
    """A response a test never closed (an unread stream) would leave this thread holding
    the rows it commits for after a response that never comes."""
    yield
    after_response._waiting.callbacks = None  # nothing waits for a response any more
    live._push_paused_until = 0.0  # a test that made a push fail leaves no pause behind


@pytest.fixture(autouse=True)
def _no_webhook_endpoint_known():
    """Each test starts as a process that has just checked for enabled webhook endpoints
    and found none (webhooks.services.deliveries: a checkout then reads nothing for them).
    One made through the API is seen at once; one made through the ORM once the test calls
    any_enabled.expire()."""
    from core import clock
    from webhooks.services.deliveries import any_enabled

    any_enabled.read_at, any_enabled.answer = clock.monotonic(), False


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 is slow on purpose; tests hash dozens of passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
