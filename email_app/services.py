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
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import UTC
from email.utils import parseaddr
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db.models import F
from django.db.models.functions import Now
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core.clock import db_now
from side_effects.services import side_effects_mark_done
from store import selectors as store_selectors
from worker.tasks_base import TransientError

from . import sql, transport
from .models import SentEmail

CONFIRMATION_EMAIL = "confirmation_email"  # the side effect kind (email_app.apps registers it)

logger = logging.getLogger(__name__)


class EmailInFlight(TransientError):
    """Another delivery of the same email is sending it right now."""


class RunOutOfTime(TransientError):
    """A run stopped before sending every email it was given: the rest are retried."""


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
    email = {"kind": kind, "key": key, "to": to, "subject": subject}
    message = _message(**email, text=text, html=html, headers=headers)
    claimed = _claims([email])[0]
    if isinstance(claimed, Exception):
        raise claimed
    if claimed is False:
        return False
    try:
        transport.send_message(message, deadline=_send_deadline())
    except BaseException:
        _claim_free(claimed)
        raise
    _sent_records([claimed])
    return True


def emails_send_together(*, emails: list[dict], by: float, start_by: float) -> list:
    """Send each of `emails` (email_send's keywords, rendered) unless it went out before,
    all at once in the sender threads (transport.send_soon): a slow server delays each by
    one send, not by those before it. Claims and records are written in this thread: the
    claims together (_claims), then the records of the sends that ended together in one
    statement, as soon as they end. An outcome per email, in order: True (sent now), False
    (sent before) or the exception that stopped it; sends that could not start by
    `start_by` (after the first) are RunOutOfTime. Left early (a database error, a time
    limit), it still records what was sent, so that no retry sends it again."""
    messages = [_message(**email) for email in emails]  # before the claims: none left behind
    outcomes = _claims(emails)  # a claim, or the email's outcome already
    sending: dict[Future, tuple[int, _Claimed]] = {}
    try:
        for n, (message, claimed) in enumerate(zip(messages, outcomes, strict=True)):
            if isinstance(claimed, _Claimed):
                start = start_by if sending else None  # the first starts whatever the time
                future = transport.send_soon(message, deadline=_send_deadline(by), start_by=start)
                sending[future] = (n, claimed)
                outcomes[n] = None  # known once its send ends
        for n, outcome in _outcomes_as_sends_end(sending, by=by):
            outcomes[n] = outcome
    finally:
        _sends_settle(sending, by=by)
    return outcomes


def _claims(emails: list[dict]) -> list:
    """Each email's (kind, key, to, subject) claim, which only this delivery holds, or its
    outcome already: False (sent before) or the claim's error (EmailInFlight, a database
    error). Insert first: a first delivery (nearly all of them) claims every email in one
    statement that skips those claimed before (sql.sent_emails_claim: the unique
    constraint tells a redelivery apart); only a redelivery's emails take
    _claim_contended's statements, one email at a time."""
    fresh = [_Claimed(e["kind"], e["key"], uuid.uuid4()) for e in emails]
    rows = [
        SentEmail(**claimed._asdict(), recipients=e["to"], subject=e["subject"])
        for e, claimed in zip(emails, fresh, strict=True)
    ]
    try:
        made = sql.sent_emails_claim(rows=rows)
    except Exception as exc:  # every email's outcome: none is sent
        return [exc] * len(emails)
    outcomes: list = []
    for claimed in fresh:
        try:
            outcomes.append(claimed if claimed.claim in made else _claim_contended(claimed))
        except Exception as exc:  # its outcome: the others still go
            outcomes.append(exc)
    return outcomes


def _still_held(claims: list[_Claimed]):
    """The rows of these emails whose claim is still ours, found on the (kind, key) index:
    a claim is a fresh uuid4, so its value alone says whose it is."""
    return SentEmail.objects.filter(
        kind__in={claimed.kind for claimed in claims},
        key__in=[claimed.key for claimed in claims],
        claim__in=[claimed.claim for claimed in claims],
    )


def _claim_contended(claimed: _Claimed) -> _Claimed | bool:
    """(kind, key) was claimed before: taken over if that claim is stale (its delivery
    died, or was cut off), False if the email was sent. Raises EmailInFlight while another
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
        return False
    # Held by another delivery, or let go by it a moment ago (its send failed): try later.
    stale_in = window - row.age.total_seconds() if row is not None else 0
    raise EmailInFlight(
        f"email {kind}:{key} is being sent by another delivery",
        retry_after=max(stale_in, 0),  # when it may be taken over
    )


def _outcomes_as_sends_end(sending: dict, *, by: float):
    """(position, outcome) of each send as it ends, taken out of `sending`. The sends that
    ended together are recorded in one statement (_sent_records), those that failed have
    their claims freed first. Bounded: each send is cut at its deadline, `by` at the
    latest; one still sending then keeps its claim, to go stale."""
    timeout = max(by - time.monotonic(), 0) + 5
    while sending:
        ended, _ = wait(list(sending), timeout=timeout, return_when=FIRST_COMPLETED)
        if not ended:
            for n, claimed in sending.values():
                yield n, transport.SendTimeout(f"email {claimed.kind}:{claimed.key}")
            sending.clear()
            return
        failed = {f: _failed(f, sending[f][1]) for f in ended if f.exception() is not None}
        sent = [sending[f][1] for f in ended if f not in failed]
        if sent:
            _sent_records(sent)
        for future in ended:
            n, _ = sending.pop(future)
            yield n, failed.get(future, True)


def _sends_settle(sending: dict, *, by: float) -> None:
    """What a run left early leaves: sends not started are cancelled and their claims
    freed; those running are waited for (to their deadlines), then recorded, or freed."""
    for future, (_, claimed) in list(sending.items()):
        if future.cancel():
            with contextlib.suppress(Exception):
                _claim_free(claimed)
            sending.pop(future)
    _, stuck = wait(list(sending), timeout=max(by - time.monotonic(), 0) + 5)
    for future in stuck:  # still sending, somehow: not waited for again; its claim goes stale
        sending.pop(future)
    with contextlib.suppress(Exception):  # a database still away: the claims go stale
        for _ in _outcomes_as_sends_end(sending, by=by):
            pass


def _failed(done: Future, claimed: _Claimed) -> BaseException:
    """The send's exception, its claim freed for a retry."""
    error = done.exception()
    _claim_free(claimed)
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


def _claim_free(claimed: _Claimed) -> None:
    """Not sent (as far as we know): free our claim so a retry can send."""
    _still_held([claimed]).filter(status=SentEmail.Status.SENDING).delete()


def _sent_records(sent: list[_Claimed]) -> None:
    """These emails went out: their rows marked sent, in one statement while our claims
    hold (nearly always)."""
    now = timezone.now()
    ours = _still_held(sent).filter(status=SentEmail.Status.SENDING)
    if ours.update(status=SentEmail.Status.SENT, sent_at=now) == len(sent):
        return
    recorded = set(_still_held(sent).values_list("claim", flat=True))
    for kind, key, claim in sent:
        if claim not in recorded:
            # Our claim went stale and another delivery took it over: both may have sent it.
            logger.warning(
                "email %s:%s: sent, but another delivery had taken the claim over", kind, key
            )
            SentEmail.objects.filter(kind=kind, key=key).update(
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


def confirmation_emails_send(*, order_ids: list[int]) -> list[int]:
    """Email each of these orders' confirmation to its customer, once; the ids of the orders
    this call sent (unknown orders are left out). Each email succeeds or fails on its own,
    and they are sent together (emails_send_together); the side effects of those sent,
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
