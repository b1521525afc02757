"""Sending email, once, without holding a database transaction across SMTP.

Each send claims its SentEmail row first (unique per kind and key, committed at once),
talks to SMTP outside any transaction, then marks the row sent. A failed send deletes the
claim, so a retry sends again. A second delivery that finds the row sent does nothing;
one that finds a fresh claim raises EmailInFlight (transient: retried later); one that
finds a claim older than any task can run takes it over. That takeover is the one gap
at-least-once delivery leaves: a worker killed after SMTP accepted the message and before
the row was marked sent sends it again."""

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from core.db import insert_unless_exists
from store import selectors as store_selectors
from store import services as store_services
from store.models import OrderSideEffect
from worker.tasks_base import TransientError

from . import transport
from .models import SentEmail

logger = logging.getLogger(__name__)


class EmailInFlight(TransientError):
    """Another delivery of the same email is sending it right now."""


def _send_once(
    *,
    kind: str,
    key: str,
    to: list[str],
    subject: str,
    template: str,
    context: dict,
    on_sent: Callable[[], None] | None = None,
) -> bool:
    """Send unless (kind, key) went out before; `on_sent` runs in the transaction that
    marks the row sent. Returns False when it had been sent already."""
    # Rendered before the claim: a template error must not leave a claim behind.
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"email_app/{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )
    message.attach_alternative(render_to_string(f"email_app/{template}.html", context), "text/html")
    if not _claim(kind=kind, key=key, to=to, subject=subject):
        return False
    try:
        transport.send_message(message)
    except BaseException:
        # Not sent (as far as we know): free the claim so a retry can send.
        SentEmail.objects.filter(kind=kind, key=key, status=SentEmail.Status.SENDING).delete()
        raise
    with transaction.atomic():
        SentEmail.objects.filter(kind=kind, key=key).update(
            status=SentEmail.Status.SENT, sent_at=timezone.now()
        )
        if on_sent:
            on_sent()
    return True


def _claim(*, kind: str, key: str, to: list[str], subject: str) -> bool:
    now = timezone.now()
    # Insert first: a first delivery (nearly all of them) claims in one statement, and the
    # unique constraint tells a redelivery apart.
    claim = SentEmail(kind=kind, key=key, recipients=to, subject=subject, claimed_at=now)
    if insert_unless_exists(claim):
        return True
    row = SentEmail.objects.get(kind=kind, key=key)
    if row.status == SentEmail.Status.SENT:
        logger.info("email %s:%s already sent, not sending again", kind, key)
        return False
    stale = now - timedelta(seconds=settings.SHOPFLOW_EMAIL_CLAIM_SECONDS)
    if SentEmail.objects.filter(
        pk=row.pk, status=SentEmail.Status.SENDING, claimed_at__lt=stale
    ).update(claimed_at=now):
        logger.warning(
            "email %s:%s: taking over a claim from %s; that attempt may have sent it",
            kind,
            key,
            row.claimed_at,
        )
        return True
    raise EmailInFlight(f"email {kind}:{key} is being sent by another delivery")


def order_confirmation_send(*, order_id: int) -> bool:
    """Email the order confirmation to the customer. Raises Order.DoesNotExist."""
    order = store_selectors.order_for_processing(order_id=order_id)

    def mark_done():
        store_services.order_side_effect_mark(
            order_id=order.pk,
            kind=OrderSideEffect.Kind.CONFIRMATION_EMAIL,
            status=OrderSideEffect.Status.DONE,
        )

    sent = _send_once(
        kind=SentEmail.Kind.ORDER_CONFIRMATION,
        key=str(order.pk),
        to=[order.customer.user.email],
        subject=f"Your Shopflow order #{order.pk}",
        template="order_confirmation",
        context={"order": order, "items": order.items.all(), "user": order.customer.user},
        on_sent=mark_done,
    )
    if not sent:
        mark_done()  # sent by an earlier delivery whose mark may not have been seen
    return sent


def welcome_send(*, user_id: int) -> bool:
    user = get_user_model().objects.get(pk=user_id)
    if not user.email:
        return False
    return _send_once(
        kind=SentEmail.Kind.WELCOME,
        key=str(user.pk),
        to=[user.email],
        subject="Welcome to Shopflow",
        template="welcome",
        context={"user": user},
    )


def low_stock_alert_send(*, product_id: int, order_id: int) -> bool:
    """Tell staff that the order took the product below its threshold; once per pair."""
    product = store_selectors.product_get(product_id=product_id)
    return _send_once(
        kind=SentEmail.Kind.LOW_STOCK_ALERT,
        key=f"{product.pk}:{order_id}",
        to=settings.SHOPFLOW_STAFF_EMAILS,
        subject=f"Low stock: {product.name} ({product.sku}), {product.available} left",
        template="low_stock_alert",
        context={"product": product, "order_id": order_id},
    )
