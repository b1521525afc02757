"""Flower as Shopflow runs it (worker/flowerconfig.py, worker/compat/flower.py): a real
Flower and a real worker that consumes only the emails queue, on a Redis server of the
module's own and on a virtual host of the process's RabbitMQ node."""

import contextlib

import pytest
import requests
from django.conf import settings
from kombu import Connection

from tests.support.brokers import RedisServer
from tests.support.polling import wait_until
from tests.support.processes import FlowerProcess, WorkerProcess, python_run, subprocess_env

# The slow tier: Flower runs, a process.
pytestmark = pytest.mark.slow

OPS = ("ops", "flower-ops-secret")
ROUTED = {"default", "emails", "inventory", "analytics", "webhooks"}


@contextlib.contextmanager
def redis_broker():
    server = RedisServer().start()
    try:
        yield server.url, {}
    finally:
        server.stop()


@contextlib.contextmanager
def rabbitmq_vhost(node):
    with node.vhost("shopflow-flower") as url:
        yield url, {"SHOPFLOW_RABBITMQ_API": node.api}


def three_messages_for_inventory(url: str) -> None:
    """Every routed queue declared, as a shop's first publications leave them; three
    messages ready in the inventory queue, as Celery's would be."""
    queues = {queue.name: queue for queue in settings.CELERY_TASK_QUEUES}
    with Connection(url) as conn, conn.Producer() as producer:
        for queue in queues.values():
            queue.bind(conn.default_channel).declare()
        inventory = queues["inventory"]
        for n in range(3):
            producer.publish(
                {"n": n}, exchange=inventory.exchange, routing_key=inventory.routing_key
            )


@pytest.fixture(
    scope="module",
    # Each broker's shop once: its tests in one process.
    params=[
        pytest.param("redis", marks=pytest.mark.xdist_group("flower-redis")),
        pytest.param(
            "rabbitmq", marks=[pytest.mark.rabbitmq, pytest.mark.xdist_group("flower-rabbitmq")]
        ),
    ],
)
def shop(request, django_db_setup, django_db_blocker, tmp_path_factory):
    """Flower and an emails-only worker; the inventory queue has three messages nobody takes."""
    logs = tmp_path_factory.mktemp("flower")
    if request.param == "redis":
        broker = redis_broker()
    else:
        broker = rabbitmq_vhost(request.getfixturevalue("rabbitmq_node"))
    with broker as (url, broker_env):
        env = subprocess_env(
            CELERY_BROKER_URL=url,
            FLOWER_BASIC_AUTH=":".join(OPS),
            **broker_env,
        )
        with django_db_blocker.unblock():
            worker = WorkerProcess(env, logs / "worker.log", concurrency=1, queues="emails")
        flower = FlowerProcess(env, logs / "flower.log")
        three_messages_for_inventory(url)
        try:
            worker.start()
            flower.start()
            yield flower
        finally:
            flower.stop()
            worker.stop()


def get(flower, path, auth=OPS, **kwargs):
    return requests.get(f"{flower.base}{path}", auth=auth, timeout=10, **kwargs)


def flower_knows_the_worker(flower) -> bool:
    workers = get(flower, "/api/workers", params={"refresh": "1"}).json()
    return any(info.get("active_queues") for info in workers.values())


def queue_lengths(flower) -> dict[str, int | None]:
    """{queue: messages}; None for a queue RabbitMQ has not sampled yet."""
    queues = get(flower, "/api/queues/length").json()["active_queues"]
    return {queue["name"]: queue.get("messages") for queue in queues}


def test_flower_lists_every_routed_queue_not_only_those_live_workers_consume(shop):
    wait_until(lambda: flower_knows_the_worker(shop), timeout=30, message="Flower to see a worker")

    # RabbitMQ's management API counts what it saw at its last sample (every 5 s).
    wait_until(lambda: queue_lengths(shop).get("inventory") == 3, timeout=30)
    broker_page = get(shop, "/broker")

    assert queue_lengths(shop) == {
        "default": 0,
        "emails": 0,
        "inventory": 3,
        "analytics": 0,
        "webhooks": 0,
    }
    assert broker_page.status_code == 200
    assert all(f">{name}<" in broker_page.text for name in ROUTED), broker_page.text[-3000:]


@pytest.mark.parametrize("path", ["/healthcheck", "/metrics", "/api/workers", "/"])
def test_no_flower_page_answers_without_credentials(shop, path):
    assert get(shop, path, auth=None).status_code == 401
    assert get(shop, path, auth=(OPS[0], "wrong")).status_code == 401
    assert get(shop, path).status_code == 200


def test_the_probe_asks_flower_with_its_credentials(shop):
    def probe(pair):
        env = {
            "PATH": "/usr/bin:/bin",
            "FLOWER_BASIC_AUTH": pair,
            "FLOWER_PORT": shop.env["FLOWER_PORT"],
        }
        return python_run("-m", "core.flowerprobe", env=env)

    healthy, refused = probe(":".join(OPS)), probe(f"{OPS[0]}:wrong")

    assert (healthy.returncode, healthy.stderr) == (0, "")
    assert refused.returncode == 1
    assert refused.stderr.startswith("flower: http://127.0.0.1:") and "401" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
