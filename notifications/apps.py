from django.apps import AppConfig
from django.db.models.signals import post_save


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        from core.signals import graceful_shutdown
        from messaging.models import Message
        from side_effects.signals import side_effect_failed
        from store.models import Order
        from store.signals import low_stock, order_created

        from . import live, receivers

        order_created.connect(
            receivers.notify_order_placed, dispatch_uid="notifications.notify_order_placed"
        )
        low_stock.connect(receivers.notify_low_stock, dispatch_uid="notifications.notify_low_stock")
        side_effect_failed.connect(
            receivers.notify_side_effect_failed,
            dispatch_uid="notifications.notify_side_effect_failed",
        )
        post_save.connect(
            receivers.notify_message_recipients,
            sender=Message,
            dispatch_uid="notifications.notify_message_recipients",
        )
        post_save.connect(
            receivers.enqueue_duplicate_order_notification,
            sender=Order,
            dispatch_uid="notifications.enqueue_duplicate_order_notification",
        )
        graceful_shutdown.connect(live.end_streams, dispatch_uid="notifications.end_streams")
