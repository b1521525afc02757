"""End to end with `celery -A worker worker` started as a subprocess, against a Redis
server the test owns and stops, PostgreSQL or SQLite, and a real SMTP server."""

import psutil
import pytest

from analytics_app.models import AnalyticsEvent
from email_app.models import SentEmail
from store.models import StockMovement
from tests.conftest import client_for
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support import WorkerProcess, subprocess_env, wait_until
from worker import outbox

pytestmark = pytest.mark.django_db(transaction=True)

ALL_DONE = {"confirmation_email": "done", "inventory": "done", "analytics": "done"}


def worker_env(redis_server, smtp_server, **overrides) -> dict[str, str]:
    """A worker subprocess's environment: this test's database, broker and SMTP server,
    and one-second retry backoff."""
    return subprocess_env(
        CELERY_BROKER_URL=redis_server.url,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=smtp_server.port,
        SHOPFLOW_TASK_RETRY_BACKOFF=1,
        DJANGO_SETTINGS_MODULE="core.settings",
        **overrides,
    )


@pytest.fixture
def worker_process(own_redis, smtp_server, tmp_path):
    env = worker_env(own_redis, smtp_server, SHOPFLOW_TASK_MAX_RETRIES=3)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    yield worker
    worker.stop()


def checkout(user, product, quantity=1):
    client = client_for(user)
    cart = cart_with(user.customer, (product, quantity))
    return client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")


def side_effects(user, order_id):
    return client_for(user).get(f"/api/orders/{order_id}/").json()["side_effects"]


def test_worker_process_performs_every_side_effect_of_a_checkout(worker_process, smtp_server):
    user = UserFactory(email="linus@example.com")
    product = ProductFactory(on_hand=50, low_stock_threshold=0)

    response = checkout(user, product, 3)

    assert response.status_code == 201
    order_id = response.json()["id"]
    wait_until(
        lambda: side_effects(user, order_id) == ALL_DONE,
        timeout=30,
        message=f"side effects; worker log:\n{worker_process.output()[-3000:]}",
    )
    subjects = [m["Subject"] for m in smtp_server.messages_to("linus@example.com")]
    assert subjects.count(f"Your Shopflow order #{order_id}") == 1
    product.refresh_from_db()
    assert (product.on_hand, product.reserved) == (47, 0)
    # Done without a failure or a retry on the way (those are the lines a worker logs per
    # task; successes are not logged, see LOGGING).
    assert "ERROR" not in worker_process.output()
    assert "transient error" not in worker_process.output()


def test_broker_down_during_checkout_loses_nothing_and_the_relay_catches_up(
    worker_process, own_redis, smtp_server
):
    users = [UserFactory() for _ in range(3)]
    product = ProductFactory(on_hand=50, low_stock_threshold=0)
    wait_until(lambda: len(smtp_server.messages) == 3, message="welcome emails")

    own_redis.stop()
    responses = [checkout(user, product, 2) for user in users]

    assert [r.status_code for r in responses] == [201, 201, 201]
    order_ids = [r.json()["id"] for r in responses]
    assert outbox.pending_count() == 9  # three side effects per order, none published

    own_redis.start()
    wait_until(lambda: outbox.relay() == 0 and outbox.pending_count() == 0, timeout=30)

    for user, order_id in zip(users, order_ids, strict=True):
        wait_until(
            lambda u=user, o=order_id: side_effects(u, o) == ALL_DONE,
            timeout=60,
            message=f"order {order_id}; worker log:\n{worker_process.output()[-3000:]}",
        )
    confirmations = [m for m in smtp_server.messages if "Your Shopflow order" in m["Subject"]]
    assert sorted(m["Subject"] for m in confirmations) == sorted(
        f"Your Shopflow order #{o}" for o in order_ids
    )
    assert SentEmail.objects.filter(kind="order_confirmation").count() == 3
    product.refresh_from_db()
    assert (product.on_hand, product.reserved) == (44, 0)
    assert StockMovement.objects.count() == 3
    assert AnalyticsEvent.objects.count() == 3


def test_worker_killed_mid_task_loses_no_side_effect(own_redis, smtp_server, tmp_path):
    """SIGKILL the pool process while it waits on SMTP: acks_late and reject_on_worker_lost
    put the message back, a new pool process runs it, finds the dead delivery's claim,
    waits until the claim is stale, takes it over, and the order completes."""
    env = worker_env(own_redis, smtp_server, SHOPFLOW_EMAIL_CLAIM_SECONDS=3)
    worker = WorkerProcess(env, tmp_path / "worker.log", concurrency=1).start()
    try:
        user = UserFactory(email="killed@example.com")
        wait_until(lambda: smtp_server.messages_to("killed@example.com"), message="welcome")
        product = ProductFactory(on_hand=10, low_stock_threshold=0)
        smtp_server.handler.delay_next = 30

        order_id = checkout(user, product).json()["id"]
        assert smtp_server.handler.delaying.wait(timeout=30), worker.output()[-3000:]
        [pool_process] = psutil.Process(worker.process.pid).children()
        pool_process.kill()

        wait_until(
            lambda: side_effects(user, order_id) == ALL_DONE,
            timeout=60,
            message=f"side effects after the kill; worker log:\n{worker.output()[-3000:]}",
        )
        assert "WorkerLostError" in worker.output() or "signal 9" in worker.output()
        assert "taking over a claim" in worker.output()
        assert SentEmail.objects.filter(kind="order_confirmation", key=str(order_id)).count() == 1
        product.refresh_from_db()
        assert (product.on_hand, product.reserved) == (9, 0)
        assert AnalyticsEvent.objects.filter(order_id=order_id).count() == 1
    finally:
        worker.stop()
