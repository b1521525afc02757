import os
from pathlib import Path

import pytest
from django.db import connection, connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.stack import redis_answers
from tests.factories import ProductFactory, UserFactory
from tests.support import RedisServer, SmtpServer, celery_broker
from worker import outbox
from worker.celery import app as celery_app

# The SQLite test database is a file (see settings) so worker subprocesses can open it.
(Path(__file__).resolve().parent.parent / "var").mkdir(exist_ok=True)


def pytest_collection_modifyitems(config, items):
    on_postgres = connection.vendor == "postgresql"
    for item in items:
        if item.get_closest_marker("postgres") and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL"))


# --- Broker -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def broker_url():
    """The machine's Redis (database 15, emptied) when it answers, else a redis-server
    this session starts and stops."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    if redis_answers(url):
        import redis

        redis.Redis.from_url(url).flushdb()
        yield url
        return
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session", autouse=True)
def _celery_uses_test_broker(broker_url):
    celery_app.conf.broker_url = broker_url
    os.environ["CELERY_BROKER_URL"] = broker_url
    # Worker threads must not keep connections to the test database between tests.
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    yield


@pytest.fixture
def own_redis():
    """A Redis server this test owns, so it can stop it, and the app pointed at it."""
    server = RedisServer().start()
    outbox._broker_down_until = 0.0
    with celery_broker(server.url):
        yield server
    server.stop()
    outbox._broker_down_until = 0.0


@pytest.fixture
def fast_retries(settings):
    settings.SHOPFLOW_TASK_RETRY_BACKOFF = 1
    settings.SHOPFLOW_TASK_RETRY_BACKOFF_MAX = 2
    settings.SHOPFLOW_TASK_MAX_RETRIES = 3
    return settings


@pytest.fixture
def celery_worker(transactional_db, broker_url, fast_retries):
    """A real Celery worker in a thread of this process, consuming every queue from the
    real broker. Our own fixture: pytest-celery's of the same name needs Docker."""
    from celery.contrib.testing.worker import start_worker

    celery_app.control.purge()
    with start_worker(
        celery_app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as worker:
        yield worker


# --- SMTP ---------------------------------------------------------------------------


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


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def client(user):
    return client_for(user)


@pytest.fixture
def product(db):
    return ProductFactory(price="12.50", on_hand=20)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 is slow on purpose; tests hash dozens of passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
