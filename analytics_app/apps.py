from django.apps import AppConfig


class AnalyticsAppConfig(AppConfig):
    name = "analytics_app"
    verbose_name = "Analytics"

    def ready(self):
        from side_effects import registry
        from worker.schedule import schedule_task

        from . import tasks

        registry.register(tasks.record_analytics)
        schedule_task(
            "analytics daily rollup",
            tasks.rollup_daily_summary,
            crontab={"minute": "5", "hour": "*"},
            expire_seconds=1800,
        )
