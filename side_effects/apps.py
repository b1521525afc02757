from django.apps import AppConfig
from django.conf import settings


class SideEffectsConfig(AppConfig):
    name = "side_effects"
    verbose_name = "Side effects"

    def ready(self):
        from core.health import add_report
        from core.metrics import add_collector
        from worker.schedule import schedule_task

        from . import metrics, selectors, tasks

        add_report("side_effects_past_deadline", selectors.side_effects_past_deadline_count)
        add_collector(metrics.SideEffectCollector())
        # No expiry: a late run finds what is overdue as well as a timely one (worker.schedule).
        schedule_task(
            "side effects reconciler",
            tasks.reconcile,
            every_seconds=settings.SHOPFLOW_RECONCILE_EVERY_SECONDS,
        )
