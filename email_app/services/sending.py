"""Sending one email, once: the public send API (email_send), which other apps use too.
Built first, claimed (email_app.services.claims), sent outside any transaction over this
thread's kept SMTP connection (email_app.transport), then recorded sent; a failed send
frees the claim."""

import re
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from core import clock

from .. import transport
from .claims import email_claim, email_claim_free, email_mark_sent


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
    raises EmailInFlight; SMTP's errors pass through, and a retry sends."""
    # Built before the claim: a bad email leaves none behind.
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
    claimed = email_claim(kind=kind, key=key, to=to, subject=subject)
    if claimed is None:
        return False
    # Cut at half the claim window from now: a send cut then is never one whose claim
    # another delivery may take over meanwhile.
    deadline = clock.monotonic() + settings.SHOPFLOW_EMAIL_CLAIM_SECONDS / 2
    try:
        transport.send_message(message, deadline=deadline)
    except BaseException:
        email_claim_free(claimed=claimed)
        raise
    email_mark_sent(claimed=claimed)
    return True


def message_id(*, kind: str, key: str) -> str:
    """The Message-ID of the email (kind, key): one per email, whatever the attempt."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "shopflow.local"
    return f"<{kind}.{re.sub(r'[^A-Za-z0-9.-]', '-', key)}@{domain}>"
