from django.db import models


class SentEmail(models.Model):
    """The log of emails sent: one row per email, written once the server took it."""

    class Kind(models.TextChoices):
        CONFIRMATION_EMAIL = "confirmation_email", "Order confirmation"
        WELCOME = "welcome", "Welcome"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    key = models.CharField(max_length=100, help_text="What the email is about, e.g. the order id.")
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=255)
    sent_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self):
        return f"{self.kind}:{self.key}"
