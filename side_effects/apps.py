from django.apps import AppConfig
from django.conf import settings


class SideEffectsConfig(AppConfig):
    name = "side_effects"
    verbose_name = "Side effects"

    def ready(self):
        from core.metrics import add_collector
        from worker.schedule import schedule_task

        from . import metrics, tasks

        add_collector(metrics.SideEffectCollector())
        # No expiry: a late run finds what is overdue as well as a timely one (worker.schedule).
        schedule_task(
            "side effects reconciler",
            tasks.reconcile,
            every_seconds=settings.SHOPFLOW_RECONCILE_EVERY_SECONDS,
        )
