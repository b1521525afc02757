"""Email content and the once-only guard, with Django's in-memory mail outbox (the real
SMTP path is covered in tests/integration and tests/e2e)."""

from decimal import Decimal

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.db import connection

from email_app.models import SentEmail
from email_app.services import emails, sending
from store.models import Order
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.jobs import jobs_run, side_effect_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(client, customer):
    mug = ProductFactory(name="Mug <b>", sku="MUG-1", price=Decimal("12.50"))
    cart = cart_with(customer, (mug, 3))
    order_id = client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json").json()["id"]
    mail.outbox.clear()
    return Order.objects.get(pk=order_id)


def test_confirmation_lists_items_prices_and_total_in_text_and_html(order, user):
    assert emails.confirmation_email_send(order_id=order.pk) is True

    [message] = mail.outbox
    assert message.to == [user.email]
    assert message.subject == f"Your Shopflow order #{order.pk}"
    assert "3 x Mug <b> (MUG-1) at 12.50 EUR = 37.50 EUR" in message.body
    assert "Total: 37.50 EUR" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "Mug &lt;b&gt;" in html  # product names are escaped in HTML


def test_the_confirmation_job_sends_once_and_is_done(order, user):
    assert side_effect_status(order.pk, "confirmation_email") == "pending"

    assert jobs_run("confirmation_email") == [str(order.pk)]

    assert [m.to for m in mail.outbox] == [[user.email]]
    assert side_effect_status(order.pk, "confirmation_email") == "done"
    assert jobs_run("confirmation_email") == []
    assert emails.confirmation_email_send(order_id=order.pk) is False  # sent already
    assert len(mail.outbox) == 1


def test_the_confirmation_names_the_shops_currency_beside_every_amount(order, settings):
    settings.SHOPFLOW_CURRENCY = "CHF"

    emails.confirmation_email_send(order_id=order.pk)

    [message] = mail.outbox
    assert "at 12.50 CHF = 37.50 CHF" in message.body and "Total: 37.50 CHF" in message.body
    html = message.alternatives[0][0]
    assert html.count("CHF") == 3 and '<th align="right">37.50 CHF</th>' in html
    assert "EUR" not in message.body + html


def test_the_confirmation_links_the_orders_page_and_promises_no_shipping(order, settings):
    """The shop ships nothing it could announce later: the email leads to the order's page,
    where its side effects are followed."""
    settings.SHOPFLOW_SITE_URL = "https://shop.example.com"

    emails.confirmation_email_send(order_id=order.pk)

    [message] = mail.outbox
    page = f"https://shop.example.com/account/orders/{order.pk}/"
    assert f"Your order, as it goes on: {page}" in message.body
    assert f'<a href="{page}">Your order, as it goes on</a>' in message.alternatives[0][0]
    assert "ships" not in message.body


def test_second_send_of_a_confirmation_sends_nothing(order):
    assert emails.confirmation_email_send(order_id=order.pk) is True
    assert emails.confirmation_email_send(order_id=order.pk) is False
    assert len(mail.outbox) == 1
    assert SentEmail.objects.filter(kind="confirmation_email", key=str(order.pk)).count() == 1


def test_a_failed_send_leaves_no_sent_row_so_a_retry_sends(order, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    with pytest.raises(OSError):
        emails.confirmation_email_send(order_id=order.pk)
    assert not SentEmail.objects.exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert emails.confirmation_email_send(order_id=order.pk) is True


def test_welcome_goes_once_and_not_to_users_without_an_address():
    with_address, without = UserFactory(), UserFactory(email="")
    mail.outbox.clear()

    assert emails.welcome_send(user_id=with_address.pk) is True
    assert emails.welcome_send(user_id=with_address.pk) is False
    assert emails.welcome_send(user_id=without.pk) is False
    assert [m.to for m in mail.outbox] == [[with_address.email]]


def test_low_stock_alert_goes_to_staff_once_per_product_and_order(settings):
    settings.SHOPFLOW_STAFF_EMAILS = ["warehouse@example.com"]
    product = ProductFactory(name="Lamp", sku="LAMP-9", on_hand=4, low_stock_threshold=5)

    assert emails.low_stock_alert_send(key=f"{product.pk}:7") is True
    assert emails.low_stock_alert_send(key=f"{product.pk}:7") is False

    [alert] = mail.outbox
    assert alert.to == ["warehouse@example.com"]
    assert alert.subject == "Low stock: Lamp (LAMP-9), 4 left"
    assert "Crossed by order #7" in alert.body


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

    assert emails.confirmation_email_send(order_id=order_id) is True

    assert TransactionProbeBackend.seen == [False]
    assert SentEmail.objects.filter(key=str(order_id)).count() == 1


# --- The Message-ID ------------------------------------------------------------------------


def test_every_attempt_at_an_email_carries_the_same_message_id(order, settings):
    assert emails.confirmation_email_send(order_id=order.pk) is True

    [message] = mail.outbox
    expected = f"<confirmation_email.{order.pk}@shopflow.local>"
    assert message.extra_headers["Message-ID"] == expected
    assert message.message()["Message-ID"] == expected
    assert sending.message_id(kind="low_stock_alert", key="3:41") == (
        "<low_stock_alert.3-41@shopflow.local>"
    )
