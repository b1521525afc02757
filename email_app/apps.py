from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


class EmailAppConfig(AppConfig):
    name = "email_app"
    verbose_name = "Email"

    def ready(self):
        from accounts.models import PasswordResetRequest
        from core.signals import receivers_connect
        from side_effects import registry
        from store.signals import duplicate_orders_alerted, low_stock

        from . import receivers, tasks

        registry.register(tasks.send_confirmation_email)
        registry.register(tasks.send_cancellation_email, on="cancelled")
        registry.register(tasks.send_shipping_email, on="fulfilled")
        receivers_connect(
            self.name,
            [
                (low_stock, receivers.enqueue_low_stock_alert),
                (duplicate_orders_alerted, receivers.enqueue_duplicate_orders_alert),
            ],
        )
        post_save.connect(
            receivers.enqueue_welcome_email,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="email_app.enqueue_welcome_email",
        )
        # Someone asked for a password reset link (the row accounts makes for each request).
        post_save.connect(
            receivers.enqueue_password_reset_email,
            sender=PasswordResetRequest,
            dispatch_uid="email_app.enqueue_password_reset_email",
        )
