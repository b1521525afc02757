"""Email content and the once-only guard, with Django's in-memory mail outbox (the real
SMTP path is covered in tests/integration and tests/e2e)."""

import time
import uuid
from decimal import Decimal

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.db import connection

from email_app import services
from email_app.models import SentEmail
from side_effects.models import OrderSideEffect
from store.models import Order
from tests.factories import ProductFactory, UserFactory, cart_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(client, customer):
    mug = ProductFactory(name="Mug <b>", sku="MUG-1", price=Decimal("12.50"))
    cart = cart_with(customer, (mug, 3))
    order_id = client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json").json()["id"]
    mail.outbox.clear()
    return Order.objects.get(pk=order_id)


def test_confirmation_lists_items_prices_and_total_in_text_and_html(order, user):
    assert services.confirmation_emails_send(order_ids=[order.pk]) == [order.pk]

    [message] = mail.outbox
    assert message.to == [user.email]
    assert message.subject == f"Your Shopflow order #{order.pk}"
    assert "3 x Mug <b> (MUG-1) at 12.50 = 37.50" in message.body
    assert "Total: 37.50" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "Mug &lt;b&gt;" in html  # product names are escaped in HTML
    assert OrderSideEffect.objects.get(order=order, kind="confirmation_email").status == "done"


def test_second_send_of_a_confirmation_sends_nothing(order):
    assert services.confirmation_emails_send(order_ids=[order.pk]) == [order.pk]
    assert services.confirmation_emails_send(order_ids=[order.pk]) == []
    assert len(mail.outbox) == 1
    assert SentEmail.objects.get(kind="confirmation_email", key=str(order.pk)).status == "sent"


def test_a_failed_send_leaves_no_sent_row_so_a_retry_sends(order, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    with pytest.raises(OSError):
        services.confirmation_emails_send(order_ids=[order.pk])
    assert not SentEmail.objects.exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert services.confirmation_emails_send(order_ids=[order.pk]) == [order.pk]


def test_a_batch_sends_each_email_once_and_one_that_fails_stops_only_itself(
    client, customer, monkeypatch
):
    from email_app import transport

    carts = [cart_with(customer, (ProductFactory(), 1)) for _ in range(3)]
    ids = [
        client.post("/api/orders/", {"cart_id": str(c.pk)}, format="json").json()["id"]
        for c in carts
    ]
    mail.outbox.clear()
    real_send = transport.send_message

    def second_fails(message, deadline):
        if message.subject.endswith(f"#{ids[1]}"):
            raise ConnectionResetError("SMTP went away")
        real_send(message, deadline=deadline)

    monkeypatch.setattr(transport, "send_message", second_fails)
    with pytest.raises(ConnectionResetError):
        services.confirmation_emails_send(order_ids=ids)

    # The others went and are done; the second's claim is freed for its retry.
    subjects = sorted(m.subject for m in mail.outbox)
    assert subjects == [f"Your Shopflow order #{i}" for i in (ids[0], ids[2])]
    statuses = dict(
        OrderSideEffect.objects.filter(kind="confirmation_email").values_list("order_id", "status")
    )
    assert [statuses[i] for i in ids] == ["done", "pending", "done"]
    assert sorted(
        SentEmail.objects.filter(kind="confirmation_email").values_list("key", "status")
    ) == sorted([(str(ids[0]), "sent"), (str(ids[2]), "sent")])

    monkeypatch.setattr(transport, "send_message", real_send)
    assert services.confirmation_emails_send(order_ids=ids) == [ids[1]]  # the retry
    assert len(mail.outbox) == 3
    assert set(
        OrderSideEffect.objects.filter(kind="confirmation_email").values_list("status", flat=True)
    ) == {"done"}


def test_a_batchs_emails_are_claimed_in_one_insert_and_recorded_sent(customer):
    from django.test.utils import CaptureQueriesContext

    from tests.support.orders import place_order

    order_ids = [place_order(customer)["id"] for _ in range(4)]
    mail.outbox.clear()
    with CaptureQueriesContext(connection) as queries:
        assert services.confirmation_emails_send(order_ids=order_ids) == order_ids

    on_sent_emails = [q["sql"] for q in queries if "email_app_sentemail" in q["sql"]]
    assert sum(sql.startswith("INSERT") for sql in on_sent_emails) == 1
    assert 1 <= sum(sql.startswith("UPDATE") for sql in on_sent_emails) <= 4
    assert len(mail.outbox) == 4
    assert set(SentEmail.objects.values_list("status", flat=True)) == {"sent"}


def test_welcome_goes_once_and_not_to_users_without_an_address():
    with_address, without = UserFactory(), UserFactory(email="")
    mail.outbox.clear()

    assert services.welcome_send(user_id=with_address.pk) is True
    assert services.welcome_send(user_id=with_address.pk) is False
    assert services.welcome_send(user_id=without.pk) is False
    assert [m.to for m in mail.outbox] == [[with_address.email]]


def test_low_stock_alert_goes_to_staff_once_per_product_and_order(settings):
    settings.SHOPFLOW_STAFF_EMAILS = ["warehouse@example.com"]
    product = ProductFactory(name="Lamp", sku="LAMP-9", on_hand=4, low_stock_threshold=5)

    assert services.low_stock_alert_send(product_id=product.pk, order_id=7) is True
    assert services.low_stock_alert_send(product_id=product.pk, order_id=7) is False

    [alert] = mail.outbox
    assert alert.to == ["warehouse@example.com"]
    assert alert.subject == "Low stock: Lamp (LAMP-9), 4 left"
    assert "Crossed by order #7" in alert.body


def test_a_claim_held_by_another_delivery_is_retried_not_sent_twice(order, settings):
    from email_app.services import EmailInFlight
    from worker.tasks_base import is_transient

    SentEmail.objects.create(kind="confirmation_email", key=str(order.pk), subject="s")

    with pytest.raises(EmailInFlight) as raised:
        services.confirmation_emails_send(order_ids=[order.pk])

    assert is_transient(raised.value)
    # The retry comes when the claim may be taken over, not before.
    claim_seconds = settings.SHOPFLOW_EMAIL_CLAIM_SECONDS
    assert claim_seconds - 5 < raised.value.retry_after <= claim_seconds
    assert mail.outbox == []
    assert SentEmail.objects.get().status == "sending"


def test_a_claim_is_stale_by_the_databases_clock_not_a_hosts_that_runs_ahead(
    order, settings, monkeypatch
):
    """A claim taken 20 s ago (by the database's clock), read by a host whose clock runs 45 s
    ahead: still fresh (the window is 60 s), so not taken over and not sent a second time."""
    from datetime import timedelta

    from django.utils import timezone

    from email_app.services import EmailInFlight

    SentEmail.objects.create(
        kind="confirmation_email",
        key=str(order.pk),
        subject="s",
        claimed_at=timezone.now() - timedelta(seconds=20),
    )
    ahead = timezone.now() + timedelta(seconds=45)
    monkeypatch.setattr(timezone, "now", lambda: ahead)

    with pytest.raises(EmailInFlight) as raised:
        services.confirmation_emails_send(order_ids=[order.pk])

    assert mail.outbox == []
    window = settings.SHOPFLOW_EMAIL_CLAIM_SECONDS
    assert window - 25 < raised.value.retry_after <= window - 15


def test_a_claim_older_than_any_task_can_run_is_taken_over_and_sent(order, settings):
    from datetime import timedelta

    from django.utils import timezone

    SentEmail.objects.create(
        kind="confirmation_email",
        key=str(order.pk),
        subject="s",
        claimed_at=timezone.now() - timedelta(seconds=settings.SHOPFLOW_EMAIL_CLAIM_SECONDS + 1),
    )

    assert services.confirmation_emails_send(order_ids=[order.pk]) == [order.pk]

    assert len(mail.outbox) == 1
    row = SentEmail.objects.get()
    assert row.status == "sent" and row.sent_at is not None


class TransactionProbeBackend(locmem.EmailBackend):
    """Records whether a database transaction was open while the message was sent."""

    seen: list[bool] = []

    def send_messages(self, messages):
        TransactionProbeBackend.seen.append(connection.in_atomic_block)
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)  # no test transaction around us
def test_no_transaction_is_held_open_while_smtp_talks(client, customer, settings):
    cart = cart_with(customer, (ProductFactory(), 1))
    order_id = client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json").json()["id"]
    settings.EMAIL_BACKEND = f"{__name__}.TransactionProbeBackend"
    TransactionProbeBackend.seen = []

    assert services.confirmation_emails_send(order_ids=[order_id]) == [order_id]

    assert TransactionProbeBackend.seen == [False]
    assert SentEmail.objects.get(key=str(order_id)).status == "sent"


# --- Claims taken over, and the Message-ID ----------------------------------------------------


def test_every_attempt_at_an_email_carries_the_same_message_id(order, settings):
    from datetime import timedelta

    from django.utils import timezone

    SentEmail.objects.create(  # a stale claim: the retry takes it over
        kind="confirmation_email",
        key=str(order.pk),
        recipients=[],
        subject="",
        status="sending",
        claimed_at=timezone.now() - timedelta(seconds=settings.SHOPFLOW_EMAIL_CLAIM_SECONDS + 1),
    )

    assert services.confirmation_emails_send(order_ids=[order.pk]) == [order.pk]

    [message] = mail.outbox
    expected = f"<confirmation_email.{order.pk}@shopflow.local>"
    assert message.extra_headers["Message-ID"] == expected
    assert message.message()["Message-ID"] == expected
    assert services.message_id(kind="low_stock_alert", key="3:41") == (
        "<low_stock_alert.3-41@shopflow.local>"
    )


# The sends run in the sender threads, whose connections see only what is committed.
@pytest.mark.django_db(transaction=True)
def test_a_delivery_whose_claim_was_taken_over_does_not_free_the_new_claim(order, monkeypatch):
    """The slow delivery's SMTP send fails after another took its stale claim over: it
    must delete only its own claim, not the one now held by the other delivery."""
    from django.utils import timezone

    from email_app import transport

    def taken_over_then_failing(message, deadline):
        taken_over = {"claimed_at": timezone.now(), "claim": uuid.uuid4()}
        SentEmail.objects.filter(kind="confirmation_email").update(**taken_over)
        connection.close()  # the sender thread's own
        raise ConnectionResetError("SMTP went away")

    monkeypatch.setattr(transport, "send_message", taken_over_then_failing)
    with pytest.raises(ConnectionResetError):
        services.confirmation_emails_send(order_ids=[order.pk])

    assert SentEmail.objects.get(kind="confirmation_email").status == "sending"


@pytest.mark.django_db(transaction=True)
def test_a_delivery_whose_claim_was_taken_over_still_records_the_email_sent(order, monkeypatch):
    from django.utils import timezone

    from email_app import transport

    sent = []

    def taken_over_while_sending(message, deadline):
        taken_over = {"claimed_at": timezone.now(), "claim": uuid.uuid4()}
        SentEmail.objects.filter(kind="confirmation_email").update(**taken_over)
        connection.close()  # the sender thread's own
        sent.append(message)

    monkeypatch.setattr(transport, "send_message", taken_over_while_sending)

    assert services.confirmation_emails_send(order_ids=[order.pk]) == [order.pk]

    assert len(sent) == 1
    assert SentEmail.objects.get(kind="confirmation_email").status == "sent"
    assert OrderSideEffect.objects.get(order=order, kind="confirmation_email").status == "done"


def test_a_run_starts_no_send_it_could_not_finish_in_its_time_and_leaves_the_rest(
    customer, settings, monkeypatch
):
    """Sends may start for the soft time limit less the longest a send may take (here
    31 - 30 = 1 s); each takes 0.6 s, one sender at a time: two go, the third is left to a
    retry."""
    from email_app import transport
    from tests.support.orders import place_order

    settings.CELERY_TASK_SOFT_TIME_LIMIT = 31
    settings.SHOPFLOW_EMAIL_SENDERS = 1
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    sent = []

    def slow_send(message, deadline):
        time.sleep(0.6)  # a slow SMTP server, on purpose: the run's time is under test
        sent.append(message.subject)

    monkeypatch.setattr(transport, "send_message", slow_send)

    with pytest.raises(services.RunOutOfTime):
        services.confirmation_emails_send(order_ids=order_ids)

    assert sent == [f"Your Shopflow order #{o}" for o in order_ids[:2]]
    states = dict(
        OrderSideEffect.objects.filter(kind="confirmation_email").values_list("order_id", "status")
    )
    assert [states[o] for o in order_ids] == ["done", "done", "pending"]
    assert not SentEmail.objects.filter(key=str(order_ids[2])).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refusals", [1, 99])
def test_a_run_whose_record_is_refused_tries_it_again_as_it_settles(
    customer, monkeypatch, refusals
):
    """Left early (here the database refusing the record of sends that went out), the run
    records them as it settles, so that no retry sends them again; should the database stay
    away, their claims stay to go stale (a retry then sends again, the gap the module's
    docstring names), and no claim is left of an email not sent."""
    from django.db import OperationalError

    from tests.support.orders import place_order

    order_ids = [place_order(customer)["id"] for _ in range(3)]
    real_records, refused = services._sent_records, []

    def refused_at_first(sent):
        if len(refused) < refusals:
            refused.append([claimed.key for claimed in sent])
            raise OperationalError("the database went away for a moment")
        real_records(sent)

    monkeypatch.setattr(services, "_sent_records", refused_at_first)
    with pytest.raises(OperationalError):
        services.confirmation_emails_send(order_ids=order_ids)

    sent = {m.subject.rpartition("#")[2] for m in mail.outbox}
    assert refused[0][0] in sent
    statuses = dict(SentEmail.objects.values_list("key", "status"))
    assert statuses == {key: "sent" if refusals == 1 else "sending" for key in sent}
