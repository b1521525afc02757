"""A queue nobody consumes, seen as an operator sees it: a real worker with its inventory
consumer cancelled (`celery control cancel_consumer inventory`, as the issue's operator
did), orders placed through the API of a real web process, and `/metrics` scraped as
Prometheus scrapes it, and Flower's API as an operator asks it: the inventory queue's
backlog and its oldest message's age grow; a worker for inventory
started, the queue drains and the orders' stock is applied. On Redis and on RabbitMQ
(with its management API)."""

import pytest
import requests

from tests.factories import ProductFactory
from tests.support.metrics import Metrics
from tests.support.polling import wait_until
from tests.support.processes import FlowerProcess, WorkerProcess, celery_control, worker_env
from tests.support.stack import checkout_as_a_new_customer, side_effects_of

pytestmark = pytest.mark.django_db(transaction=True)

OPS = ("ops", "queue-visibility-secret")


@pytest.fixture
def shop_env(stoppable_broker, smtp_server):
    """The environment of every process of this shop: the test's broker (RabbitMQ with its
    management API), database and SMTP server."""
    api = ""
    if stoppable_broker.url.startswith("amqp"):
        api = stoppable_broker.node.api
    return worker_env(
        stoppable_broker,
        smtp_server,
        SHOPFLOW_RABBITMQ_API=api,
        FLOWER_BASIC_AUTH=":".join(OPS),
    )


@pytest.fixture
def workers(shop_env, tmp_path):
    """Start worker processes on the shop's environment; all stopped after the test."""
    started = []

    def start(queues: str) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        started.append(WorkerProcess(shop_env, log, queues=queues).start())
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def flower(shop_env, tmp_path):
    process = FlowerProcess(shop_env, tmp_path / "flower.log").start()
    yield process
    process.stop()


def flower_backlog(flower) -> int:
    """The inventory queue's messages on Flower's Broker API (a read of the broker); -1
    while Flower does not list it, or RabbitMQ has not sampled it yet."""
    answer = requests.get(f"{flower.base}/api/queues/length", auth=OPS, timeout=10)
    queues = {q["name"]: q.get("messages") for q in answer.json()["active_queues"]}
    return -1 if queues.get("inventory") is None else queues["inventory"]


def inventory(site) -> dict:
    """What /metrics says of the inventory queue right now."""
    response = requests.get(f"{site.base}/metrics", auth=OPS, timeout=10)
    assert response.status_code == 200, response.text
    scraped = Metrics(response.text)
    return {
        "ready": scraped.value("shopflow_queue_messages", queue="inventory", state="ready"),
        "age": scraped.value("shopflow_queue_oldest_message_age_seconds", queue="inventory"),
    }


def test_a_queue_nobody_consumes_shows_its_backlog_growing_older_then_drains(
    shop_env, workers, web, dispatcher_process, flower
):
    dispatcher_process(shop_env)
    worker = workers("default,emails,inventory,analytics")
    replies = celery_control(shop_env, "cancel_consumer", "inventory", "-d", worker.name)
    assert "no longer consuming from inventory" in replies
    site = web(
        **{
            k: shop_env[k]
            for k in ("CELERY_BROKER_URL", "SHOPFLOW_RABBITMQ_API", "FLOWER_BASIC_AUTH")
        }
    )
    placed = orders_seen_waiting_longer_and_longer(site, flower)

    workers("inventory")
    wait_until(
        lambda: inventory(site) == {"ready": 0, "age": 0},
        timeout=60,
        message="the inventory queue to drain, consumed",
    )
    wait_until(lambda: flower_backlog(flower) == 0, timeout=15, message="Flower to see it drained")
    for api, order_id in placed:
        wait_until(
            lambda api=api, order_id=order_id: (
                side_effects_of(api, site, order_id)["inventory"] == "done"
            ),
            timeout=30,
            message=f"order {order_id}'s stock applied",
        )


def orders_seen_waiting_longer_and_longer(site, flower) -> list:
    """Orders placed through the API, two and two more: /metrics shows the inventory
    queue's backlog and its oldest message's age growing, and Flower the
    backlog (RabbitMQ's management API, which Flower reads there, samples every 5 s).
    Returns the orders placed (the customer's session, the order's id)."""
    ProductFactory(price="9.90", on_hand=1000)
    placed = [checkout_as_a_new_customer(site, username=f"early{n}") for n in range(2)]
    first = wait_until(
        lambda: (seen := inventory(site))["ready"] and seen["age"] is not None and seen,
        timeout=30,
        message="the inventory backlog at /metrics",
    )
    wait_until(lambda: flower_backlog(flower) >= first["ready"], timeout=10, message="Flower")

    # Orders placed after those are published go in messages of their own: more ready.
    placed += [checkout_as_a_new_customer(site, username=f"later{n}") for n in range(2)]
    later = wait_until(
        lambda: (
            (seen := inventory(site))["ready"] > first["ready"]
            and seen["age"] >= first["age"] + 2
            and seen
        ),
        timeout=30,
        message=f"the backlog and its oldest message's age to grow past {first}",
    )
    wait_until(lambda: flower_backlog(flower) >= later["ready"], timeout=10, message="Flower")
    return placed
