from django.apps import AppConfig


class AnalyticsAppConfig(AppConfig):
    name = "bench.plain.analytics_app"
    label = "analytics_app"

    def ready(self):
        from bench.plain.store.signals import order_created

        from . import receivers

        order_created.connect(receivers.record_order, dispatch_uid="plain.analytics.record_order")
