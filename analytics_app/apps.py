from django.apps import AppConfig


class AnalyticsAppConfig(AppConfig):
    name = "analytics_app"
    verbose_name = "Analytics"

    def ready(self):
        from side_effects import registry
        from store.signals import order_cancelled
        from worker.schedule import schedule_task

        from . import receivers, tasks

        registry.register(tasks.record_analytics)
        order_cancelled.connect(
            receivers.record_cancellation, dispatch_uid="analytics_app.record_cancellation"
        )
        schedule_task(
            "analytics daily rollup",
            tasks.rollup_daily_summary,
            crontab={"minute": "5", "hour": "*"},
            expire_seconds=1800,
        )
