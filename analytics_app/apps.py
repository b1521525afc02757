from django.apps import AppConfig


class AnalyticsAppConfig(AppConfig):
    name = "analytics_app"
    verbose_name = "Analytics"

    def ready(self):
        from store.signals import order_created

        from . import receivers

        order_created.connect(
            receivers.queue_order_event, dispatch_uid="analytics_app.queue_order_event"
        )
