"""Sending email, once. Each send runs in one transaction with its SentEmail row: the row
is inserted first (a concurrent second delivery waits on the unique key, then finds it),
the message goes to SMTP, and an SMTP error rolls the row back so a retry sends again.
The one gap at-least-once delivery leaves: a worker killed after SMTP accepted and before
the commit sends again on redelivery."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

from store import selectors as store_selectors
from store import services as store_services
from store.models import OrderSideEffect

from .models import SentEmail

logger = logging.getLogger(__name__)


def _send_once(
    *, kind: str, key: str, to: list[str], subject: str, template: str, context: dict
) -> bool:
    """Send unless (kind, key) went out before. Call inside a transaction."""
    _, created = SentEmail.objects.get_or_create(
        kind=kind, key=key, defaults={"recipients": to, "subject": subject}
    )
    if not created:
        logger.info("email %s:%s already sent, not sending again", kind, key)
        return False
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"email_app/{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )
    message.attach_alternative(render_to_string(f"email_app/{template}.html", context), "text/html")
    message.send()
    return True


def order_confirmation_send(*, order_id: int) -> bool:
    """Email the order confirmation to the customer. Raises Order.DoesNotExist."""
    order = store_selectors.order_for_processing(order_id=order_id)
    with transaction.atomic():
        sent = _send_once(
            kind=SentEmail.Kind.ORDER_CONFIRMATION,
            key=str(order.pk),
            to=[order.customer.user.email],
            subject=f"Your Shopflow order #{order.pk}",
            template="order_confirmation",
            context={"order": order, "items": order.items.all(), "user": order.customer.user},
        )
        store_services.order_side_effect_mark(
            order_id=order.pk,
            kind=OrderSideEffect.Kind.CONFIRMATION_EMAIL,
            status=OrderSideEffect.Status.DONE,
        )
    return sent


def welcome_send(*, user_id: int) -> bool:
    user = get_user_model().objects.get(pk=user_id)
    if not user.email:
        return False
    with transaction.atomic():
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
    with transaction.atomic():
        return _send_once(
            kind=SentEmail.Kind.LOW_STOCK_ALERT,
            key=f"{product.pk}:{order_id}",
            to=settings.SHOPFLOW_STAFF_EMAILS,
            subject=f"Low stock: {product.name} ({product.sku}), {product.available} left",
            template="low_stock_alert",
            context={"product": product, "order_id": order_id},
        )
