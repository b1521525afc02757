from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from core.metrics import add_collector
        from core.signals import receivers_connect
        from side_effects.signals import side_effect_failed
        from store.signals import low_stock, order_created, price_changed
        from worker.schedule import schedule_task

        from . import metrics, receivers, tasks

        receivers_connect(
            self.name,
            [
                (order_created, receivers.deliver_order_created),
                (low_stock, receivers.deliver_low_stock),
                (price_changed, receivers.deliver_price_changed),
                (side_effect_failed, receivers.deliver_side_effect_failed),
            ],
        )
        add_collector(metrics.WebhookCollector())
        # No expiry: a late run does as well as a timely one (worker.schedule).
        schedule_task(
            "webhook endpoints failing for 5 days",
            tasks.disable_failing_endpoints,
            every_seconds=3600,
        )
        # A lost message sent again within 2 minutes of its due time (webhooks.services.sending).
        schedule_task("webhook deliveries re-driven", tasks.redrive_deliveries, every_seconds=30)
        schedule_task(
            "webhook deliveries prune",
            tasks.prune_deliveries,
            crontab={"minute": "15", "hour": "4"},
            expire_seconds=3600,
        )
