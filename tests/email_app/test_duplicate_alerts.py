"""Staff hear of duplicate orders in one email a window (store.services.duplicates makes
the window's alert, email_app sends it): every flagged order named in exactly one email,
whether it committed late, the send failed or was cut short, or runs overlapped."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection

from email_app.models import SentEmail
from email_app.services import emails
from store.models import DuplicateAlert, Order
from store.services.duplicates import duplicate_alert_create
from store.signals import duplicate_orders_alerted
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from worker.models import Job

pytestmark = pytest.mark.django_db

ALERT_KIND = "duplicate_orders_alert"
WINDOW = 300
NOON = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _window(settings):
    settings.SHOPFLOW_DUPLICATE_ALERT_WINDOW_SECONDS = WINDOW
    settings.SHOPFLOW_STAFF_EMAILS = ["ops@shop.example"]
    settings.SHOPFLOW_SITE_URL = "https://shop.example"


@pytest.fixture
def mug():
    return ProductFactory(on_hand=1000, price=Decimal("12.50"))


def order(user, product, quantity=1) -> dict:
    cart = cart_with(user.customer, (product, quantity))
    response = client_for(user).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def duplicate(product, quantity=1, user=None) -> dict:
    """A new customer's order, then the same again: the second is flagged."""
    user = user or UserFactory()
    order(user, product, quantity)
    flagged = order(user, product, quantity)
    assert flagged["duplicate_of"] is not None
    return flagged


def send_queued_alerts() -> list[bool]:
    """What the email worker does with the alerts queued (the tasks' work, in order)."""
    keys = Job.objects.filter(kind=ALERT_KIND).order_by("pk").values_list("key", flat=True)
    return [emails.duplicate_orders_alert_send(alert_id=int(key)) for key in keys]


def named_in(message) -> set[int]:
    return {
        order_id
        for order_id in Order.objects.filter(duplicate_of__isnull=False).values_list(
            "pk", flat=True
        )
        if f"Order #{order_id} repeats" in message.body
    }


def test_duplicates_of_one_window_make_one_email_naming_each_order(mug):
    flagged = [duplicate(mug, quantity) for quantity in (1, 2, 3)]
    alert_id = duplicate_alert_create(now=NOON + timedelta(seconds=299))

    assert send_queued_alerts() == [True]
    [message] = mail.outbox
    assert message.to == ["ops@shop.example"]
    assert message.subject == "Possible duplicates: 3 orders ({})".format(
        ", ".join(f"#{o['id']}" for o in flagged)
    )
    for o in flagged:
        placed = Order.objects.select_related("customer__user").get(pk=o["id"])
        user = placed.customer.user
        assert (
            f"Order #{o['id']} repeats #{o['duplicate_of']}: {placed.total} EUR by "
            f"{user.username} <{user.email}>"
        ) in message.body
        assert f"https://shop.example/admin/store/order/{o['id']}/change/" in message.body
    assert f"https://shop.example/admin/store/order/?duplicate_alert={alert_id}" in message.body
    html, _ = message.alternatives[0]
    assert all(f"#{o['id']}</a>" in html for o in flagged)
    sent = SentEmail.objects.get(kind="duplicate_orders_alert")
    assert sent.key == "2030-01-01T12:00:00Z"


def test_duplicates_of_two_windows_make_two_emails(mug):
    first = duplicate(mug)
    assert duplicate_alert_create(now=NOON) is not None
    second = duplicate(mug)
    assert duplicate_alert_create(now=NOON + timedelta(seconds=WINDOW)) is not None

    assert send_queued_alerts() == [True, True]
    assert [named_in(message) for message in mail.outbox] == [{first["id"]}, {second["id"]}]
    assert SentEmail.objects.filter(kind="duplicate_orders_alert").count() == 2


def test_a_second_run_of_the_window_sends_nothing_new(mug):
    duplicate(mug)
    alert_id = duplicate_alert_create(now=NOON)
    assert send_queued_alerts() == [True]

    assert duplicate_alert_create(now=NOON + timedelta(seconds=10)) is None  # the same window
    assert duplicate_alert_create(now=NOON + timedelta(seconds=WINDOW)) is None  # none new
    assert emails.duplicate_orders_alert_send(alert_id=alert_id) is False  # redelivered
    assert len(mail.outbox) == 1


def test_an_order_flagged_after_the_windows_email_went_out_is_named_in_the_next(mug):
    early = duplicate(mug)
    duplicate_alert_create(now=NOON)
    assert send_queued_alerts() == [True]

    late = duplicate(mug)
    # Its window's alert went out: it waits for the next window, not lost, not squeezed in.
    assert duplicate_alert_create(now=NOON + timedelta(seconds=WINDOW - 1)) is None
    later = duplicate_alert_create(now=NOON + timedelta(seconds=WINDOW))

    assert emails.duplicate_orders_alert_send(alert_id=later) is True
    assert [named_in(message) for message in mail.outbox] == [{early["id"]}, {late["id"]}]


def test_a_send_that_fails_logs_nothing_and_the_retry_sends_it_once(mug, settings):
    flagged = [duplicate(mug), duplicate(mug)]
    alert_id = duplicate_alert_create(now=NOON)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    with pytest.raises(OSError):
        emails.duplicate_orders_alert_send(alert_id=alert_id)
    assert not SentEmail.objects.filter(kind="duplicate_orders_alert").exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert emails.duplicate_orders_alert_send(alert_id=alert_id) is True
    assert emails.duplicate_orders_alert_send(alert_id=alert_id) is False
    [message] = mail.outbox
    assert named_in(message) == {o["id"] for o in flagged}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_overlapping_runs_and_a_late_commit_name_each_order_in_one_email_only():
    """One run holds its transaction open (its receivers are slow); a second run, of the
    same window or the next, skips the orders the first holds; an order committed
    meanwhile goes to the next window's alert. Each order is named by one email."""
    mug = ProductFactory(on_hand=1000)
    early = [duplicate(mug)["id"] for _ in range(3)]
    marked, release = threading.Event(), threading.Event()

    def slow_receiver(sender, alert, **kwargs):
        marked.set()
        release.wait(timeout=10)

    def first_run():
        try:
            return duplicate_alert_create(now=NOON)
        finally:
            connection.close()

    duplicate_orders_alerted.connect(slow_receiver, dispatch_uid="test.slow_receiver")
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(first_run)
            assert marked.wait(timeout=10)
            assert duplicate_alert_create(now=NOON + timedelta(seconds=1)) is None
            assert duplicate_alert_create(now=NOON + timedelta(seconds=WINDOW)) is None
            late = duplicate(mug)["id"]  # committed while the first run is still open
            release.set()
            first = first.result(timeout=30)
    finally:
        duplicate_orders_alerted.disconnect(dispatch_uid="test.slow_receiver")
        release.set()

    second = duplicate_alert_create(now=NOON + timedelta(seconds=2 * WINDOW))
    assert sorted(DuplicateAlert.objects.get(pk=first).orders.values_list("pk", flat=True)) == (
        early
    )
    assert list(DuplicateAlert.objects.get(pk=second).orders.values_list("pk", flat=True)) == [late]
    assert send_queued_alerts() == [True, True]
    assert [named_in(message) for message in mail.outbox] == [set(early), {late}]
