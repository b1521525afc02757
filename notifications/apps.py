from django.apps import AppConfig
from django.db.models.signals import post_save


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        # The receivers, each to the signal it reacts to (once, by its dispatch_uid).
        from django.contrib.auth.signals import user_logged_out

        from accounts.signals import login_from_new_device
        from core.signals import receivers_connect
        from messaging.models import Message
        from messaging.signals import message_read
        from side_effects.signals import side_effect_failed
        from store.signals import (
            duplicate_orders_alerted,
            low_stock,
            order_cancelled,
            order_created,
            order_fulfilled,
        )
        from webhooks.signals import webhook_failed

        # The email digests and pushes: job kinds (worker.tasks_base.job_tasks), woken by
        # the dispatcher while they have due jobs.
        from . import receivers, tasks  # noqa: F401

        receivers_connect(
            self.name,
            [
                (order_created, receivers.notify_order_placed),
                (order_cancelled, receivers.notify_order_cancelled),
                (order_fulfilled, receivers.notify_order_fulfilled),
                (low_stock, receivers.notify_low_stock),
                (side_effect_failed, receivers.notify_side_effect_failed),
                (webhook_failed, receivers.notify_webhook_failed),
                (login_from_new_device, receivers.notify_new_device_login),
                (message_read, receivers.push_read_receipt),
                (duplicate_orders_alerted, receivers.notify_duplicate_orders),
                (user_logged_out, receivers.end_push_subscriptions_of_session),
            ],
        )
        post_save.connect(
            receivers.notify_message_recipients,
            sender=Message,
            dispatch_uid="notifications.notify_message_recipients",
        )
