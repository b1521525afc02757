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
from concurrent.futures import Future, as_completed
from datetime import UTC
from email.utils import parseaddr

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core.clock import db_now
from side_effects.services import side_effects_mark_done
from store import selectors as store_selectors
from worker.tasks_base import TransientError

from . import transport
from .models import SentEmail

CONFIRMATION_EMAIL = "confirmation_email"  # the side effect kind (email_app.apps registers it)

logger = logging.getLogger(__name__)


class EmailInFlight(TransientError):
    """Another delivery of the same email is sending it right now."""


class RunOutOfTime(TransientError):
    """A run stopped before sending every email it was given: the rest are retried."""


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
    )
    claim = _claim(kind=kind, key=key, to=to, subject=subject)
    if claim is None:
        return False
    try:
        transport.send_message(message, deadline=_send_deadline())
    except BaseException:
        _claim_free(kind=kind, key=key, claim=claim)
        raise
    _sent_record(kind=kind, key=key, claim=claim)
    return True


def emails_send_together(*, emails: list[dict], by: float, start_by: float) -> list:
    """Send each of `emails` (email_send's keywords, rendered) unless it went out before,
    all at once in the sender threads (transport.send_soon): a slow server delays each by
    one send, not by those before it. Claims and records are written in this thread, each
    record as soon as its send ends. An outcome per email, in order: True (sent now), False
    (sent before) or the exception that stopped it; sends that could not start by
    `start_by` (after the first) are RunOutOfTime. Left early (a database error, a time
    limit), it still records what was sent, so that no retry sends it again."""
    outcomes: list = []
    sending: dict[Future, tuple] = {}  # a send: (its position, its email, its claim)
    try:
        for email in emails:
            started = _send_started(email, first=not sending, by=by, start_by=start_by)
            if isinstance(started, tuple):
                future, claim = started
                sending[future] = (len(outcomes), email, claim)
                started = None  # known once its send ends
            outcomes.append(started)
        for n, outcome in _outcomes_as_sends_end(sending, by=by):
            outcomes[n] = outcome
    finally:
        _sends_settle(sending, by=by)
    return outcomes


def _send_started(email: dict, *, first: bool, by: float, start_by: float):
    """The email's send queued, (its Future, its claim); or its outcome already: False
    (sent before) or the claim's error (EmailInFlight, a database error). The run's
    `first` send starts whatever the time."""
    message = _message(**email)  # before the claim: an error here leaves none behind
    try:
        claim = _claim(
            kind=email["kind"], key=email["key"], to=email["to"], subject=email["subject"]
        )
    except Exception as exc:  # its outcome: the others still go
        return exc
    if claim is None:
        return False
    start = None if first else start_by
    return transport.send_soon(message, deadline=_send_deadline(by), start_by=start), claim


def _outcomes_as_sends_end(sending: dict, *, by: float):
    """(position, outcome) of each send as it ends, recorded at once; bounded: each send
    is cut at its deadline, `by` at the latest."""
    try:
        for done in as_completed(list(sending), timeout=max(by - time.monotonic(), 0) + 5):
            n, email, claim = sending.pop(done)
            yield n, _outcome(done, kind=email["kind"], key=email["key"], claim=claim)
    except TimeoutError:  # still sending, somehow: their claims stay ours, to go stale
        for n, email, _ in list(sending.values()):
            yield n, transport.SendTimeout(f"email {email['kind']}:{email['key']}")


def _sends_settle(sending: dict, *, by: float) -> None:
    """What a run left early leaves: sends not started are cancelled and their claims
    freed; those running are waited for (to their deadlines) and recorded, or freed."""
    for future, (_, email, claim) in list(sending.items()):
        if future.cancel():
            with contextlib.suppress(Exception):
                _claim_free(kind=email["kind"], key=email["key"], claim=claim)
            sending.pop(future)
    with contextlib.suppress(Exception):  # a database still away: the claims go stale
        for _ in _outcomes_as_sends_end(sending, by=by):
            pass


def _outcome(done: Future, *, kind: str, key: str, claim: uuid.UUID):
    """True, recorded sent; else the send's exception, its claim freed for a retry."""
    error = done.exception()
    if error is None:
        _sent_record(kind=kind, key=key, claim=claim)
        return True
    _claim_free(kind=kind, key=key, claim=claim)
    return RunOutOfTime(str(error)) if isinstance(error, transport.NotStarted) else error


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


def _send_deadline(by: float | None = None) -> float:
    """Half the claim window from now (or `by`, if sooner): a send cut then is never one
    whose claim another delivery may take over meanwhile."""
    deadline = time.monotonic() + settings.SHOPFLOW_EMAIL_CLAIM_SECONDS / 2
    return min(deadline, by) if by is not None else deadline


def _claim_free(*, kind: str, key: str, claim: uuid.UUID) -> None:
    """Not sent (as far as we know): free our claim so a retry can send."""
    SentEmail.objects.filter(
        kind=kind, key=key, status=SentEmail.Status.SENDING, claim=claim
    ).delete()


def _sent_record(*, kind: str, key: str, claim: uuid.UUID) -> None:
    ours = {"kind": kind, "key": key, "status": SentEmail.Status.SENDING, "claim": claim}
    if not SentEmail.objects.filter(**ours).update(
        status=SentEmail.Status.SENT, sent_at=timezone.now()
    ):
        # Our claim went stale and another delivery took it over: both may have sent it.
        logger.warning(
            "email %s:%s: sent, but another delivery had taken the claim over", kind, key
        )
        SentEmail.objects.filter(kind=kind, key=key).update(
            status=SentEmail.Status.SENT, sent_at=timezone.now()
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


def _claim(*, kind: str, key: str, to: list[str], subject: str) -> uuid.UUID | None:
    """The claim on (kind, key), which only this delivery holds; None when the email was
    sent already. Raises EmailInFlight while another delivery holds a fresh claim; a
    stale one (its delivery died, or was cut off) is taken over."""
    claim = uuid.uuid4()
    # Insert first: a first delivery (nearly all of them) claims with one INSERT, and the
    # unique constraint tells a redelivery apart.
    try:
        with transaction.atomic():
            SentEmail.objects.create(
                kind=kind, key=key, recipients=to, subject=subject, claim=claim, claimed_at=Now()
            )
        return claim
    except IntegrityError:
        pass
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
        return claim
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


def confirmation_emails_send(*, order_ids: list[int]) -> list[int]:
    """Email each of these orders' confirmation to its customer, once; the ids of the orders
    this call sent (unknown orders are left out). Each email is claimed and recorded on its
    own, and they are sent together (emails_send_together); the side effects of those sent,
    now or before, are marked done, also when others failed, and then the first failure is
    raised (the task tries those orders alone). The run ends within the task's soft time
    limit (the email worker's threads enforce none): no send starts that could outlast it
    (a send is cut at half the claim, or at the limit); those are RunOutOfTime, retried."""
    run_ends = time.monotonic() + settings.CELERY_TASK_SOFT_TIME_LIMIT
    orders = list(store_selectors.orders_for_processing(order_ids=order_ids))
    outcomes = emails_send_together(
        emails=[_confirmation(order) for order in orders],
        by=run_ends,
        start_by=run_ends - settings.SHOPFLOW_EMAIL_CLAIM_SECONDS / 2,
    )
    done = [o.pk for o, outcome in zip(orders, outcomes, strict=True) if isinstance(outcome, bool)]
    if done:  # sent now, or by an earlier delivery
        side_effects_mark_done(order_ids=done, kind=CONFIRMATION_EMAIL)
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:  # a real error first: the task then tries those orders alone
        raise sorted(failures, key=lambda exc: isinstance(exc, RunOutOfTime))[0]
    return [o.pk for o, outcome in zip(orders, outcomes, strict=True) if outcome is True]


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
