"""Emails, sent over SMTP inside the request, with Shopflow's templates and subjects: one
connection per email, as Django's EmailMessage.send() opens it."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

from .models import SentEmail


def send_confirmation(sender, order, **kwargs):
    user = order.customer.user
    _send(
        kind=SentEmail.Kind.CONFIRMATION_EMAIL,
        key=str(order.pk),
        to=[user.email],
        subject=f"Your Shopflow order #{order.pk}",
        template="confirmation_email",
        context={"order": order, "items": order.line_items, "user": user},
    )


def send_welcome(sender, instance, created, raw=False, **kwargs):
    """A new user's welcome, once the sign-up commits (still in its request)."""
    if created and not raw and instance.email:
        transaction.on_commit(
            lambda: _send(
                kind=SentEmail.Kind.WELCOME,
                key=str(instance.pk),
                to=[instance.email],
                subject="Welcome to Shopflow",
                template="welcome",
                context={"user": instance},
            )
        )


def _send(*, kind: str, key: str, to: list[str], subject: str, template: str, context: dict):
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"email_app/{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )
    message.attach_alternative(render_to_string(f"email_app/{template}.html", context), "text/html")
    message.send()
    SentEmail.objects.create(kind=kind, key=key, recipients=to, subject=subject)
