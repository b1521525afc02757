from django.apps import AppConfig
from django.db.models.signals import post_save


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Shopflow core"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from store.models import Order
        from store.signals import order_created, side_effect_failed, stock_low

        from . import receivers
        from .models import Message

        order_created.connect(
            receivers.audit_order_created, dispatch_uid="core.audit_order_created"
        )
        order_created.connect(
            receivers.notify_order_placed, dispatch_uid="core.notify_order_placed"
        )
        stock_low.connect(
            receivers.notify_staff_of_low_stock, dispatch_uid="core.notify_staff_of_low_stock"
        )
        side_effect_failed.connect(
            receivers.notify_staff_of_failed_side_effect,
            dispatch_uid="core.notify_staff_of_failed_side_effect",
        )
        post_save.connect(
            receivers.notify_message_recipients,
            sender=Message,
            dispatch_uid="core.notify_message_recipients",
        )
        post_save.connect(
            receivers.queue_duplicate_order_notification,
            sender=Order,
            dispatch_uid="core.queue_duplicate_order_notification",
        )
        user_logged_in.connect(receivers.audit_login, dispatch_uid="core.audit_login")
        user_login_failed.connect(
            receivers.audit_login_failure, dispatch_uid="core.audit_login_failure"
        )
