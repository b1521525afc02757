"""Shopflow's own emails, each rendered from one of email_app's templates and sent once
through email_send: an order's confirmation, cancellation and shipping (side effects of
the order), the welcome email, the password reset link, and staff's low-stock and
duplicate-orders alerts."""

import math
from datetime import UTC

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from store import selectors as store_selectors
from store.models import Order
from worker.models import Job, held_by_an_attempt
from worker.tasks_base import TransientError

from ..models import SentEmail
from .sending import email_send

# The side effect kinds (email_app.apps registers their tasks).
CONFIRMATION_EMAIL = "confirmation_email"
CANCELLATION_EMAIL = "cancellation_email"
SHIPPING_EMAIL = "shipping_email"
# A job kind of its own (not a side effect).
PASSWORD_RESET_EMAIL = "password_reset_email"


def _rendered(template: str, context: dict) -> dict[str, str]:
    """One of email_app's templates as the email's text and html, for email_send (rendered
    before its claim: a template error leaves no claim behind)."""
    return {
        "text": render_to_string(f"email_app/{template}.txt", context),
        "html": render_to_string(f"email_app/{template}.html", context),
    }


def confirmation_email_send(*, order_id: int) -> bool:
    """Email this order's confirmation to its customer, once; False when an earlier
    attempt had sent it, or the order is cancelled (its cancellation says so instead)."""
    order = store_selectors.order_for_processing(order_id=order_id)
    if order.status == Order.Status.CANCELLED:
        return False
    subject = f"Your Shopflow order #{order.pk}"
    return _order_email_send(order, SentEmail.Kind.CONFIRMATION_EMAIL, subject)


def cancellation_email_send(*, order_id: int) -> bool:
    """Email the order's cancellation, once, never before its confirmation: it waits while
    an attempt at the confirmation is under way (that attempt may send it); any later
    attempt sees the order cancelled and sends none."""
    _after_the_confirmation(order_id)
    order = store_selectors.order_for_processing(order_id=order_id)
    subject = f"Your Shopflow order #{order.pk} is cancelled"
    return _order_email_send(order, SentEmail.Kind.CANCELLATION_EMAIL, subject)


def shipping_email_send(*, order_id: int) -> bool:
    """Email that the order is on its way, with its tracking number, once; not while an
    attempt at its confirmation is under way."""
    _after_the_confirmation(order_id)
    order = store_selectors.order_for_processing(order_id=order_id)
    subject = f"Your Shopflow order #{order.pk} is on its way"
    return _order_email_send(order, SentEmail.Kind.SHIPPING_EMAIL, subject)


def _after_the_confirmation(order_id: int) -> None:
    """TransientError while an attempt at the order's confirmation holds its job: this
    attempt is tried again once that one has ended, or every lease-length / max retries
    (SHOPFLOW_JOB_LEASE_SECONDS / SHOPFLOW_TASK_MAX_RETRIES, 10 s) meanwhile, so that its
    retries outlast the longest attempt (its lease) before they run out."""
    held = Job.objects.filter(held_by_an_attempt(), kind=CONFIRMATION_EMAIL, key=str(order_id))
    if until := held.values_list("leased_until", flat=True).first():
        recheck = settings.SHOPFLOW_JOB_LEASE_SECONDS / settings.SHOPFLOW_TASK_MAX_RETRIES
        wait = min((until - timezone.now()).total_seconds(), math.ceil(recheck))
        raise TransientError("its confirmation is being sent", retry_after=max(wait, 1))


def _order_email_send(order, kind: str, subject: str) -> bool:
    user = order.customer.user
    return email_send(
        kind=kind,
        key=str(order.pk),
        to=[user.email],
        subject=subject,
        # The order's page, at SHOPFLOW_SITE_URL.
        **_rendered(kind, {"order": order, "user": user, "site": settings.SHOPFLOW_SITE_URL}),
    )


def welcome_send(*, user_id: int) -> bool:
    user = get_user_model().objects.get(pk=user_id)
    if not user.email:
        return False
    return email_send(
        kind=SentEmail.Kind.WELCOME,
        key=str(user.pk),
        to=[user.email],
        subject="Welcome to Shopflow",
        **_rendered("welcome", {"user": user}),
    )


def password_reset_send(*, key: str) -> bool:
    """Email the account a link to set a new password, once per request; `key` "<user
    id>:<request id>" (accounts' PasswordResetRequest). The link is Django's: the account's
    uidb64 and a token made now (PasswordResetTokenGenerator), valid for
    PASSWORD_RESET_TIMEOUT and until the password changes, at SHOPFLOW_SITE_URL. False, and
    nothing sent, when the account can no longer reset its password (deactivated, its
    password made unusable, no email address): as Django's own form would not."""
    user_id = int(key.split(":", 1)[0])
    user = get_user_model().objects.get(pk=user_id)  # deleted since: nothing to do
    if not (user.is_active and user.has_usable_password() and user.email):
        return False
    path = reverse(
        "password-reset-confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    context = {
        "user": user,
        "link": f"{settings.SHOPFLOW_SITE_URL}{path}",
        "valid_hours": max(1, settings.PASSWORD_RESET_TIMEOUT // 3600),
    }
    return email_send(
        kind=SentEmail.Kind.PASSWORD_RESET,
        key=key,
        to=[user.email],
        subject="Reset your Shopflow password",
        **_rendered("password_reset", context),
    )


def low_stock_alert_send(*, key: str) -> bool:
    """Tell staff that an order took a product below its threshold; once per pair, `key`
    "<product id>:<order id>"."""
    product_id, order_id = (int(part) for part in key.split(":"))
    product = store_selectors.product_get(product_id=product_id)
    return email_send(
        kind=SentEmail.Kind.LOW_STOCK_ALERT,
        key=f"{product.pk}:{order_id}",
        to=settings.SHOPFLOW_STAFF_EMAILS,
        subject=f"Low stock: {product.name} ({product.sku}), {product.available} left",
        **_rendered("low_stock_alert", {"product": product, "order_id": order_id}),
    )


def duplicate_orders_alert_send(*, alert_id: int) -> bool:
    """Tell staff, in one email, of every order a duplicate-order alert names (the store
    makes one a window); once per alert, keyed by its window. DuplicateAlert.DoesNotExist
    for an unknown alert."""
    alert = store_selectors.duplicate_alert_get(alert_id=alert_id)
    if not alert.named:  # its orders were deleted since
        return False
    # The template links each order, and all of them, to the admin at SHOPFLOW_SITE_URL.
    context = {"alert": alert, "orders": alert.named, "site": settings.SHOPFLOW_SITE_URL}
    return email_send(
        kind=SentEmail.Kind.DUPLICATE_ORDERS_ALERT,
        key=f"{alert.window_start.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
        to=settings.SHOPFLOW_STAFF_EMAILS,
        subject=_duplicates_subject(alert.named),
        **_rendered("duplicate_orders_alert", context),
    )


def _duplicates_subject(orders) -> str:
    if len(orders) == 1:
        return f"Possible duplicate: order #{orders[0].pk} repeats #{orders[0].duplicate_of_id}"
    named = ", ".join(f"#{order.pk}" for order in orders[:5])
    more = ", ..." if len(orders) > 5 else ""
    return f"Possible duplicates: {len(orders)} orders ({named}{more})"
