from celery import shared_task

from side_effects.base import SideEffectTask

from . import services


@shared_task(
    base=SideEffectTask, kind=services.ANALYTICS, atomic=True, name="analytics_app.record_analytics"
)
def record_analytics(key: str) -> bool:
    return services.analytics_record(order_id=int(key))


@shared_task(name="analytics_app.rollup_daily_summary")
def rollup_daily_summary(days: int = 2) -> list[str]:
    return services.daily_summaries_rollup(days=int(days))
