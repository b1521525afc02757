"""Sending one email, once: the public send API (email_send), which other apps use too.
Built first, sent outside any transaction over this thread's kept SMTP connection
(email_app.transport), then logged sent (SentEmail, unique per kind and key). Only one
attempt of a job runs at a time (its lease), so nothing else sends it meanwhile; the log
keeps a later attempt from sending again what an earlier one sent and logged, when that
attempt's own end was not recorded (docs/reliability.md)."""

import re
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from core import clock

from .. import transport
from ..models import SentEmail


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
    (kind, key) went out before; False when it had. SMTP's errors pass through: the
    caller's job is retried, and its next attempt sends."""
    if SentEmail.objects.filter(kind=kind, key=key).exists():
        return False
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
        # The same for every attempt at this email: should one whose worker died after the
        # server took it send it again, mailbox providers that collapse duplicates by
        # Message-ID show it once.
        headers={**(headers or {}), "Message-ID": message_id(kind=kind, key=key)},
    )
    message.attach_alternative(html, "text/html")
    transport.send_message(
        message, deadline=clock.monotonic() + settings.SHOPFLOW_EMAIL_SEND_SECONDS
    )
    SentEmail.objects.bulk_create(
        [SentEmail(kind=kind, key=key, recipients=to, subject=subject)], ignore_conflicts=True
    )
    return True


def message_id(*, kind: str, key: str) -> str:
    """The Message-ID of the email (kind, key): one per email, whatever the attempt."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "shopflow.local"
    return f"<{kind}.{re.sub(r'[^A-Za-z0-9.-]', '-', key)}@{domain}>"
