from celery import shared_task

from side_effects.base import SideEffectTask

from . import services


@shared_task(
    base=SideEffectTask,
    side_effect=services.ANALYTICS,
    name="analytics_app.record_analytics",
)
def record_analytics(order_id: int) -> bool:
    return services.analytics_record(order_id=order_id)


@shared_task(name="analytics_app.rollup_daily_summary")
def rollup_daily_summary(days: int = 2) -> list[str]:
    return services.daily_summaries_rollup(days=int(days))
