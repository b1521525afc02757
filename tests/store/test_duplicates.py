"""Duplicate orders: the same lines from the same customer within the window are flagged
(still placed); staff hear of them in batches: one alert a window, naming every order
flagged since the last, by one email and one notification each; nothing else is."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from email_app.services.emails import duplicate_orders_alert_send
from notifications.models import Notification
from notifications.services import inbox
from store.models import Order
from store.services.checkout import order_place
from store.services.duplicates import duplicate_alert_create
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.orders import place_order
from tests.support.polling import wait_for_a_lock_wait
from worker.models import Job

pytestmark = pytest.mark.django_db

ALERT_KIND = "duplicate_orders_alert"


def alerts_queued() -> list:
    """The alert ids whose email is queued (their jobs)."""
    keys = Job.objects.filter(kind=ALERT_KIND).order_by("pk").values_list("key", flat=True)
    return [[int(key)] for key in keys]


def named(alert_id) -> list[int]:
    return sorted(Order.objects.filter(duplicate_alert_id=alert_id).values_list("pk", flat=True))


@pytest.fixture
def mug():
    return ProductFactory(on_hand=100)


@pytest.fixture
def lamp():
    return ProductFactory(on_hand=100)


def test_the_same_lines_again_within_the_window_are_flagged_and_still_placed(user, mug, lamp):
    first = place_order(user.customer, (mug, 2), (lamp, 1))
    second = place_order(user.customer, (lamp, 1), (mug, 2))  # the same lines, in another order

    assert first["duplicate_of"] is None
    assert second["duplicate_of"] == first["id"]
    assert Order.objects.count() == 2
    read = client_for(user).get(f"/api/orders/{second['id']}/").json()
    assert read["duplicate_of"] == first["id"]


def test_a_third_repeat_points_at_the_latest_earlier_order(user, mug):
    first = place_order(user.customer, (mug, 1))
    second = place_order(user.customer, (mug, 1))
    third = place_order(user.customer, (mug, 1))
    assert (second["duplicate_of"], third["duplicate_of"]) == (first["id"], second["id"])


@pytest.mark.parametrize(
    ("quantity", "other_customer"),
    [(3, False), (2, True)],
    ids=["other quantity", "other customer"],
)
def test_other_lines_or_another_customer_are_not_duplicates(user, mug, quantity, other_customer):
    place_order(user.customer, (mug, 2))
    again = place_order((UserFactory() if other_customer else user).customer, (mug, quantity))
    assert again["duplicate_of"] is None
    assert duplicate_alert_create() is None
    assert alerts_queued() == []


@pytest.mark.parametrize(
    ("minutes_ago", "flagged"), [(9.9, True), (10.1, False)], ids=["inside", "outside"]
)
def test_the_window_edges(user, mug, settings, minutes_ago, flagged):
    settings.SHOPFLOW_DUPLICATE_WINDOW_MINUTES = 10
    first = place_order(user.customer, (mug, 1))
    Order.objects.filter(pk=first["id"]).update(
        placed_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    again = place_order(user.customer, (mug, 1))
    assert again["duplicate_of"] == (first["id"] if flagged else None)


def test_an_idempotency_key_replay_is_not_a_duplicate_it_is_the_same_order(user, mug):
    client = client_for(user)
    cart = cart_with(user.customer, (mug, 1))
    body = {"cart_id": str(cart.pk)}
    first = client.post("/api/orders/", body, format="json", headers={"Idempotency-Key": "k1"})
    replay = client.post("/api/orders/", body, format="json", headers={"Idempotency-Key": "k1"})
    assert replay.status_code == first.status_code == 201
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["duplicate_of"] is None
    assert Order.objects.count() == 1
    assert duplicate_alert_create() is None


def test_a_checkout_queues_no_alert_the_windows_alert_emails_and_notifies_staff_once(user, mug):
    staff = [UserFactory(is_staff=True), UserFactory(is_staff=True)]
    place_order(user.customer, (mug, 1))
    second = place_order(user.customer, (mug, 1))
    # The checkout queues no alert: the order waits for its window's.
    assert not Job.objects.filter(kind=ALERT_KIND).exists()
    assert not Notification.objects.filter(kind="duplicate_order").exists()

    alert = duplicate_alert_create()
    assert named(alert) == [second["id"]]
    assert alerts_queued() == [[alert]]  # its email, queued with the marks
    notified = Notification.objects.filter(kind="duplicate_order").order_by("recipient_id")
    assert [n.recipient_id for n in notified] == [member.pk for member in staff]
    assert f"order #{second['id']}" in notified[0].message
    assert not Notification.objects.filter(recipient=user, kind="duplicate_order").exists()
    assert duplicate_alert_create() is None  # a second run: nothing more to name
    assert Notification.objects.filter(kind="duplicate_order").count() == 2


def test_a_rolled_back_duplicate_leaves_no_alert_and_no_notification(user, mug):
    UserFactory(is_staff=True)
    place_order(user.customer, (mug, 1))
    cart = cart_with(user.customer, (mug, 1))
    with pytest.raises(RuntimeError), transaction.atomic():
        placed = order_place(customer=user.customer, cart_id=cart.pk)
        assert placed.order.duplicate_of_id is not None
        raise RuntimeError("rolled back")
    assert duplicate_alert_create() is None
    assert alerts_queued() == []
    assert not Notification.objects.filter(kind="duplicate_order").exists()


def test_the_alert_email_reaches_a_real_smtp_server_once(user, mug, smtp_server, settings):
    settings.SHOPFLOW_STAFF_EMAILS = ["ops@shop.example"]
    place_order(user.customer, (mug, 1))
    second = place_order(user.customer, (mug, 1))
    alert = duplicate_alert_create()

    assert duplicate_orders_alert_send(alert_id=alert) is True
    assert duplicate_orders_alert_send(alert_id=alert) is False  # a redelivery

    (message,) = smtp_server.messages_to("ops@shop.example")
    assert (
        message["Subject"]
        == f"Possible duplicate: order #{second['id']} repeats #{second['duplicate_of']}"
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_checkout_concurrent_with_an_identical_one_waits_for_it_and_is_flagged():
    """The first checkout holds its transaction open; the second, of an identical cart,
    must wait for it (the same products' row locks, taken before the duplicate check) and
    then see it, not slip past unseen."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    user, mug = UserFactory(), ProductFactory(on_hand=100)
    client = client_for(user)
    carts = [cart_with(user.customer, (mug, 2)) for _ in range(2)]
    first_placed, release = threading.Event(), threading.Event()

    def first():
        try:
            with transaction.atomic():
                order = order_place(customer=user.customer, cart_id=carts[0].pk).order
                first_placed.set()
                release.wait(timeout=10)  # still uncommitted while the second checks out
            return order.pk
        finally:
            connection.close()

    def second():
        first_placed.wait(timeout=10)
        try:
            return client.post("/api/orders/", {"cart_id": str(carts[1].pk)}, format="json")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        first_id, answer = pool.submit(first), pool.submit(second)
        wait_for_a_lock_wait()  # the second waits on the products' row locks
        assert not answer.done()
        release.set()
        first_id, answer = first_id.result(timeout=30), answer.result(timeout=30)

    assert answer.status_code == 201
    assert answer.json()["duplicate_of"] == first_id


def test_a_failing_alert_reaction_loses_neither_the_order_nor_its_alert(user, mug, monkeypatch):
    """Nothing but the flag runs inside the checkout. The alert's receivers run in the
    transaction that marks the orders: one that fails rolls the marks back, and the next
    run names the orders."""

    def broken(**kwargs):
        raise RuntimeError("staff lookup down")

    monkeypatch.setattr(inbox, "notifications_create_for_staff", broken)
    UserFactory(is_staff=True)
    place_order(user.customer, (mug, 1))
    second = place_order(user.customer, (mug, 1))
    assert Order.objects.filter(pk=second["id"]).exists()

    with pytest.raises(RuntimeError):
        duplicate_alert_create()
    assert Order.objects.get(pk=second["id"]).duplicate_alert_id is None
    assert alerts_queued() == []

    monkeypatch.undo()
    alert = duplicate_alert_create()
    assert named(alert) == [second["id"]]
    assert alerts_queued() == [[alert]]
    assert Notification.objects.filter(kind="duplicate_order").count() == 1
