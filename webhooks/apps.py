from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from core.signals import receivers_connect
        from side_effects.signals import side_effect_failed
        from store.signals import (
            low_stock,
            order_cancelled,
            order_created,
            order_fulfilled,
            price_changed,
        )

        from . import receivers, tasks  # noqa: F401 (the delivery task, registered)

        receivers_connect(
            self.name,
            [
                (order_created, receivers.deliver_order_created),
                (order_cancelled, receivers.deliver_order_cancelled),
                (order_fulfilled, receivers.deliver_order_fulfilled),
                (low_stock, receivers.deliver_low_stock),
                (price_changed, receivers.deliver_price_changed),
                (side_effect_failed, receivers.deliver_side_effect_failed),
            ],
        )
