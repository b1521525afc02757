from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from store.models import OrderSideEffect
from store.side_effects import OrderSideEffectTask

from . import services


@shared_task(
    base=OrderSideEffectTask,
    side_effect=OrderSideEffect.Kind.ANALYTICS,
    name="analytics_app.record_order_event",
)
def record_order_event(order_id: int) -> bool:
    return services.order_event_record(order_id=int(order_id))


@shared_task(name="analytics_app.rollup_daily_summary")
def rollup_daily_summary(days: int = 2) -> list[str]:
    """Recompute today's and the previous days' summaries (late events land in them)."""
    today = timezone.localdate()
    days_done = []
    for offset in range(max(int(days), 1)):
        day = today - timedelta(days=offset)
        services.daily_summary_rollup(day=day)
        days_done.append(day.isoformat())
    return days_done
