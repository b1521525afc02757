from celery import shared_task

from side_effects.base import SideEffectTask
from worker.tasks_base import JobTask

from . import services
from .models import AnalyticsEvent


@shared_task(
    base=SideEffectTask, kind=services.ANALYTICS, atomic=True, name="analytics_app.record_analytics"
)
def record_analytics(key: str) -> bool:
    return services.analytics_record(order_id=int(key))


@shared_task(
    base=JobTask, kind=services.CANCELLATION, atomic=True, name="analytics_app.record_cancellation"
)
def record_cancellation(key: str) -> bool:
    return services.analytics_record(order_id=int(key), name=AnalyticsEvent.Name.ORDER_CANCELLED)


@shared_task(name="analytics_app.rollup_daily_summary")
def rollup_daily_summary(days: int = 2) -> list[str]:
    return services.daily_summaries_rollup(days=int(days))
