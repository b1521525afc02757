from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from core.metrics import add_collector
        from side_effects.signals import side_effect_failed
        from store.signals import low_stock, order_created, price_changed
        from worker.schedule import schedule_task

        from . import metrics, receivers, tasks
        from .services.sending import REDRIVE_EVERY_SECONDS

        order_created.connect(
            receivers.deliver_order_created, dispatch_uid="webhooks.deliver_order_created"
        )
        low_stock.connect(receivers.deliver_low_stock, dispatch_uid="webhooks.deliver_low_stock")
        price_changed.connect(
            receivers.deliver_price_changed, dispatch_uid="webhooks.deliver_price_changed"
        )
        side_effect_failed.connect(
            receivers.deliver_side_effect_failed,
            dispatch_uid="webhooks.deliver_side_effect_failed",
        )
        add_collector(metrics.WebhookCollector())
        # No expiry: a late run does as well as a timely one (worker.schedule).
        schedule_task(
            "webhook endpoints failing for 5 days",
            tasks.disable_failing_endpoints,
            every_seconds=3600,
        )
        schedule_task(
            "webhook deliveries re-driven",
            tasks.redrive_deliveries,
            every_seconds=REDRIVE_EVERY_SECONDS,
        )
        schedule_task(
            "webhook deliveries prune",
            tasks.prune_deliveries,
            crontab={"minute": "15", "hour": "4"},
            expire_seconds=3600,
        )
