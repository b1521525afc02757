from celery import shared_task

from side_effects.base import SideEffectTask

from . import services


@shared_task(
    base=SideEffectTask,
    side_effect=services.ANALYTICS,
    name="analytics_app.record_analytics",
)
def record_analytics(order_ids: list[int]) -> list[int]:
    return services.analytics_record(order_ids=list(map(int, order_ids)))


@shared_task(name="analytics_app.rollup_daily_summary")
def rollup_daily_summary(days: int = 2) -> list[str]:
    return services.daily_summaries_rollup(days=int(days))
