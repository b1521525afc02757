"""Live notifications, served as in production (gunicorn + uvicorn web processes, a
Celery worker, the channel layer on Redis between them), each test over both transports:
the WebSocket and Server-Sent Events (the `live` fixture)."""

import pytest

from notifications.models import Notification
from tests.factories import ProductFactory, UserFactory
from tests.support.clients import client_for
from tests.support.notifications import notify
from tests.support.orders import place_order
from tests.support.processes import DispatcherProcess, WorkerProcess

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_notification_a_worker_commits_reaches_both_web_processes(web_env, web, live, tmp_path):
    first, second = web(), web()
    staff, customer = UserFactory(is_staff=True), UserFactory()
    on_first, on_second = live(first, staff), live(second, staff)
    customers = live(second, customer)

    dispatcher = DispatcherProcess(web_env, tmp_path / "dispatcher.log").start()
    worker = WorkerProcess(web_env, tmp_path / "worker.log", concurrency=1).start()
    try:
        # Stock falls below its threshold: the worker's inventory task alerts staff.
        lamp = ProductFactory(on_hand=6, low_stock_threshold=5, name="Desk lamp")
        order_id = place_order(customer.customer, (lamp, 3))["id"]

        placed = customers.next()  # committed by the test's request
        assert placed["type"] == "notification" and placed["kind"] == "order_placed"
        assert placed["message"].startswith(f"Order #{order_id} confirmed")

        for client in (on_first, on_second):
            message = client.next(timeout=30)  # committed by the worker
            low = Notification.objects.get(recipient=staff, kind="low_stock")
            assert message["id"] == low.pk and "Desk lamp" in message["message"]
            assert set(message) >= {"id", "kind", "message", "link", "is_read", "created_at"}
    finally:
        worker.stop()
        dispatcher.stop()
    with pytest.raises(AssertionError):  # each client gets its user's notifications only
        customers.next(timeout=1)


def test_a_reconnect_with_the_last_id_replays_exactly_what_was_missed(web, live):
    process = web()
    user = UserFactory()
    client = live(process, user)
    seen = notify(user, "one")
    assert client.next()["id"] == seen.pk
    client.close()

    missed = [notify(user, "two"), notify(user, "three")]
    notify(UserFactory(), "someone else's")
    again = live(process, user, last_id=seen.pk)
    replayed = [again.next(), again.next()]
    assert [m["id"] for m in replayed] == [row.pk for row in missed]
    assert [m["message"] for m in replayed] == ["two", "three"]
    latest = notify(user, "four")
    assert again.next()["id"] == latest.pk  # then live, nothing twice
    with pytest.raises(AssertionError):
        again.next(timeout=1)


def test_a_restarted_channel_layer_redis_loses_nothing_under_open_clients(web, live, settings):
    """Redis restarts empty (its groups and queued messages gone): the web process
    notices (its watch), each client joins its group again and reads what it missed."""
    from tests.support.brokers import RedisServer, channel_layer_on

    redis_server = RedisServer().start()
    try:
        first = web(CHANNEL_LAYER_URL=redis_server.url)
        second = web(CHANNEL_LAYER_URL=redis_server.url)
        channel_layer_on(settings, redis_server.url)
        user = UserFactory()
        opened = [live(first, user), live(second, user)]
        before = notify(user, "before")
        for client in opened:
            assert client.next()["id"] == before.pk

        redis_server.stop()
        during = notify(user, "while Redis is down")  # its push fails: never sent
        redis_server.start()  # the same port, empty
        after = [notify(user, f"after {n}") for n in range(3)]
        for client in opened:
            got = sorted(client.next(timeout=20)["id"] for _ in range(4))
            assert got == sorted([during.pk, *(row.pk for row in after)])
            with pytest.raises(AssertionError):
                client.next(timeout=1)  # nothing twice
    finally:
        redis_server.stop()


def test_a_kind_turned_off_in_the_app_stops_arriving_and_only_it(web, live):
    process = web()
    user = UserFactory(is_staff=True)  # low stock is a staff-only kind
    client = live(process, user)
    response = client_for(user).put(
        "/api/notifications/preferences/", {"low_stock": {"in_app": False}}, format="json"
    )
    assert response.status_code == 200
    notify(user, "muted", kind="low_stock")  # a muted kind, then another
    shown = notify(user, "shown")
    message = client.next()
    assert (message["id"], message["kind"]) == (shown.pk, "message")


def test_the_sender_sees_the_read_receipt_live(web, live, product):
    process = web()
    staff, customer = UserFactory(is_staff=True), UserFactory()
    order_id = place_order(customer.customer, (product, 1))["id"]
    path = f"/api/orders/{order_id}/messages/"
    sent = client_for(staff).post(path, {"body": "Shipped today."}, format="json").json()
    staffs = live(process, staff)

    assert client_for(customer).post(path + "read/").json() == {"marked": 1}
    receipt = staffs.next()
    assert receipt["type"] == "receipt"
    assert (receipt["order"], receipt["message_ids"]) == (order_id, [sent["id"]])
    read_at = client_for(staff).get(path).json()["results"][0]["read_at"]
    assert receipt["read_at"] == read_at
