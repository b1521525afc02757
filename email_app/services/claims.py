"""The claim on one email, and its record: what makes each email go out at most once per
(kind, key), without holding a database transaction across SMTP (docs/reliability.md).

A claim's row is committed before SMTP and marked sent after; one older than
SHOPFLOW_EMAIL_CLAIM_SECONDS (the database's clock) is taken over. That takeover is the
one gap at-least-once delivery leaves: a worker killed after SMTP accepted the message and
before the row was marked sent sends it again, with the same Message-ID, which mailbox
providers that de-duplicate show once."""

import contextlib
import logging
import uuid

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from core.clock import db_now
from worker.tasks_base import TransientError

from ..models import SentEmail

logger = logging.getLogger(__name__)


class EmailInFlight(TransientError):
    """Another delivery of the same email is sending it right now."""


def email_claim(*, kind: str, key: str, to: list[str], subject: str) -> SentEmail | None:
    """This delivery's claim on (kind, key), dated by the database's clock (hosts compare
    it), committed at once: the email's row, whose `claim` is this delivery's; None when
    the email was sent before. A first delivery (nearly all) inserts the row; only a
    redelivery meets the unique constraint and takes _claim_contended's path."""
    claim = uuid.uuid4()
    # Outside a transaction the INSERT commits on its own; inside one, a savepoint keeps
    # a unique violation from breaking the caller's.
    isolated = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with isolated:
            return SentEmail.objects.create(
                kind=kind, key=key, recipients=to, subject=subject, claim=claim, claimed_at=Now()
            )
    except IntegrityError:
        return _claim_contended(SentEmail(kind=kind, key=key, claim=claim))


def _still_held(claimed: SentEmail):
    """The row of this email while the claim is still ours."""
    return SentEmail.objects.filter(kind=claimed.kind, key=claimed.key, claim=claimed.claim)


def _claim_contended(claimed: SentEmail) -> SentEmail | None:
    """(kind, key) was claimed before: taken over if that claim is stale (its delivery
    died, or was cut off), None if the email was sent. Raises EmailInFlight while another
    delivery holds a fresh claim."""
    kind, key, claim = claimed.kind, claimed.key, claimed.claim
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


def email_claim_free(*, claimed: SentEmail) -> None:
    """Not sent (as far as we know): free our claim so a retry can send."""
    _still_held(claimed).filter(status=SentEmail.Status.SENDING).delete()


def email_mark_sent(*, claimed: SentEmail) -> None:
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
