from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


class EmailAppConfig(AppConfig):
    name = "email_app"
    verbose_name = "Email"

    def ready(self):
        from store.models import Order
        from store.signals import order_created, stock_low

        from . import receivers

        order_created.connect(
            receivers.queue_order_confirmation, dispatch_uid="email_app.queue_order_confirmation"
        )
        stock_low.connect(
            receivers.queue_low_stock_alert, dispatch_uid="email_app.queue_low_stock_alert"
        )
        post_save.connect(
            receivers.queue_welcome_email,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="email_app.queue_welcome_email",
        )
        post_save.connect(
            receivers.queue_duplicate_order_alert,
            sender=Order,
            dispatch_uid="email_app.queue_duplicate_order_alert",
        )
