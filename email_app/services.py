"""Sending email, once, without holding a database transaction across SMTP.

Each send claims its SentEmail row first (unique per kind and key, committed at once),
talks to SMTP outside any transaction, then marks the row sent. A failed send deletes the
claim, so a retry sends again. A second delivery that finds the row sent does nothing;
one that finds a fresh claim raises EmailInFlight (transient: retried later); one that
finds a claim older than SHOPFLOW_EMAIL_CLAIM_SECONDS takes it over (a delivery marks the
row sent only while it still holds its claim). The claim's age is the database's clock
(core.clock), whichever host's worker claimed it. A send is cut at half that window
(transport's deadline), whatever the worker pool, so a claim taken over is never one whose
send may still go out. That takeover is the one gap at-least-once delivery leaves: a worker
killed after SMTP accepted the message and before the row was marked sent sends it again,
with the same Message-ID, which mailbox providers that de-duplicate show once."""

import contextlib
import logging
import re
import time
import uuid
from datetime import UTC
from email.utils import parseaddr
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core.clock import db_now
from side_effects.services import side_effect_mark_done
from store import selectors as store_selectors
from worker.tasks_base import TransientError

from . import transport
from .models import SentEmail

CONFIRMATION_EMAIL = "confirmation_email"  # the side effect kind (email_app.apps registers it)

logger = logging.getLogger(__name__)


class EmailInFlight(TransientError):
    """Another delivery of the same email is sending it right now."""


class _Claimed(NamedTuple):
    """An email this delivery holds the claim on."""

    kind: str
    key: str
    claim: uuid.UUID


def email_send(
    *,
    kind: str,
    key: str,
    to: list[str],
    subject: str,
    text: str,
    html: str,
    headers=None,
) -> bool:
    """The public send API (notifications' digests use it too): send this email unless
    (kind, key) went out before; False when it had. A fresh claim held by another delivery
    raises EmailInFlight; SMTP's errors pass through, and a retry sends. Over this thread's
    kept connection, cut at half the claim window, with the Message-ID of (kind, key)."""
    message = _message(
        kind=kind, key=key, to=to, subject=subject, text=text, html=html, headers=headers
    )  # before the claim: a bad email leaves none behind
    claimed = _claim(kind=kind, key=key, to=to, subject=subject)
    if claimed is None:
        return False
    try:
        transport.send_message(message, deadline=_send_deadline())
    except BaseException:
        _claim_free(claimed)
        raise
    _sent_record(claimed)
    return True


def _claim(*, kind: str, key: str, to: list[str], subject: str) -> _Claimed | None:
    """This delivery's claim on (kind, key), dated by the database's clock (hosts compare
    it), committed at once; None when the email was sent before. A first delivery (nearly
    all) inserts the row; only a redelivery meets the unique constraint and takes
    _claim_contended's path."""
    claimed = _Claimed(kind, key, uuid.uuid4())
    # Outside a transaction the INSERT commits on its own; inside one, a savepoint keeps
    # a unique violation from breaking the caller's.
    isolated = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with isolated:
            SentEmail.objects.create(
                kind=kind,
                key=key,
                recipients=to,
                subject=subject,
                claim=claimed.claim,
                claimed_at=Now(),
            )
    except IntegrityError:
        return _claim_contended(claimed)
    return claimed


def _still_held(claimed: _Claimed):
    """The row of this email while the claim is still ours."""
    return SentEmail.objects.filter(kind=claimed.kind, key=claimed.key, claim=claimed.claim)


def _claim_contended(claimed: _Claimed) -> _Claimed | None:
    """(kind, key) was claimed before: taken over if that claim is stale (its delivery
    died, or was cut off), None if the email was sent. Raises EmailInFlight while another
    delivery holds a fresh claim."""
    kind, key, claim = claimed
    window = settings.SHOPFLOW_EMAIL_CLAIM_SECONDS
    if SentEmail.objects.filter(
        kind=kind,
        key=key,
        status=SentEmail.Status.SENDING,
        claimed_at__lt=db_now(plus_seconds=-window),
    ).update(claimed_at=Now(), claim=claim):
        logger.warning(
            "email %s:%s: taking over a claim older than %ss; that attempt may have sent it",
            kind,
            key,
            window,
        )
        return claimed
    row = SentEmail.objects.annotate(age=Now() - F("claimed_at")).filter(kind=kind, key=key)
    row = row.first()
    if row is not None and row.status == SentEmail.Status.SENT:
        logger.info("email %s:%s already sent, not sending again", kind, key)
        return None
    # Held by another delivery, or let go by it a moment ago (its send failed): try later.
    stale_in = window - row.age.total_seconds() if row is not None else 0
    raise EmailInFlight(
        f"email {kind}:{key} is being sent by another delivery",
        retry_after=max(stale_in, 0),  # when it may be taken over
    )


def _message(*, kind, key, to, subject, text, html, headers=None) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
        # The same for every attempt at this email: should a takeover send it a second
        # time, mailbox providers that collapse duplicates by Message-ID show it once.
        headers={**(headers or {}), "Message-ID": message_id(kind=kind, key=key)},
    )
    message.attach_alternative(html, "text/html")
    return message


def _send_deadline() -> float:
    """Half the claim window from now: a send cut then is never one whose claim another
    delivery may take over meanwhile."""
    return time.monotonic() + settings.SHOPFLOW_EMAIL_CLAIM_SECONDS / 2


def _claim_free(claimed: _Claimed) -> None:
    """Not sent (as far as we know): free our claim so a retry can send."""
    _still_held(claimed).filter(status=SentEmail.Status.SENDING).delete()


def _sent_record(claimed: _Claimed) -> None:
    """This email went out: its row marked sent, while our claim holds (nearly always)."""
    now = timezone.now()
    if _still_held(claimed).update(status=SentEmail.Status.SENT, sent_at=now):
        return
    # Our claim went stale and another delivery took it over: both may have sent it.
    logger.warning(
        "email %s:%s: sent, but another delivery had taken the claim over",
        claimed.kind,
        claimed.key,
    )
    SentEmail.objects.filter(kind=claimed.kind, key=claimed.key).update(
        status=SentEmail.Status.SENT, sent_at=now
    )


def _send_once(*, template: str, context: dict, **email) -> bool:
    """email_send of one of email_app's templates. Rendered before the claim: a template
    error must not leave a claim behind."""
    return email_send(**_rendered(template, context), **email)


def _rendered(template: str, context: dict) -> dict[str, str]:
    """One of email_app's templates as the email's text and html."""
    return {
        "text": render_to_string(f"email_app/{template}.txt", context),
        "html": render_to_string(f"email_app/{template}.html", context),
    }


def message_id(*, kind: str, key: str) -> str:
    """The Message-ID of the email (kind, key): one per email, whatever the attempt."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "shopflow.local"
    return f"<{kind}.{re.sub(r'[^A-Za-z0-9.-]', '-', key)}@{domain}>"


def confirmation_email_send(*, order_id: int) -> bool:
    """Email this order's confirmation to its customer, once, and mark its side effect
    done (also when an earlier delivery had sent it); False when it had."""
    order = store_selectors.order_for_processing(order_id=order_id)
    sent = email_send(**_confirmation(order))
    side_effect_mark_done(order_id=order_id, kind=CONFIRMATION_EMAIL)
    return sent


def _confirmation(order) -> dict:
    context = {"order": order, "items": order.line_items, "user": order.customer.user}
    return {
        "kind": SentEmail.Kind.CONFIRMATION_EMAIL,
        "key": str(order.pk),
        "to": [order.customer.user.email],
        "subject": f"Your Shopflow order #{order.pk}",
        **_rendered("confirmation_email", context),
    }


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


def duplicate_orders_alert_send(*, alert_id: int) -> bool:
    """Tell staff, in one email, of every order a duplicate-order alert names (the store
    makes one a window); once per alert, keyed by its window. DuplicateAlert.DoesNotExist
    for an unknown alert."""
    alert = store_selectors.duplicate_alert_get(alert_id=alert_id)
    if not alert.named:  # its orders were deleted since
        return False
    site = settings.SHOPFLOW_SITE_URL
    rows = [
        {
            "order": order,
            "customer": order.customer.user,
            "admin_url": site + reverse("admin:store_order_change", args=[order.pk]),
        }
        for order in alert.named
    ]
    return _send_once(
        kind=SentEmail.Kind.DUPLICATE_ORDERS_ALERT,
        key=f"{alert.window_start.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
        to=settings.SHOPFLOW_STAFF_EMAILS,
        subject=_duplicates_subject(alert.named),
        template="duplicate_orders_alert",
        context={
            "rows": rows,
            "admin_url": site
            + reverse("admin:store_order_changelist")
            + f"?duplicate_alert={alert.pk}",
        },
    )


def _duplicates_subject(orders) -> str:
    if len(orders) == 1:
        return f"Possible duplicate: order #{orders[0].pk} repeats #{orders[0].duplicate_of_id}"
    named = ", ".join(f"#{order.pk}" for order in orders[:5])
    more = ", ..." if len(orders) > 5 else ""
    return f"Possible duplicates: {len(orders)} orders ({named}{more})"
