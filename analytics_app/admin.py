from django.contrib import admin

from core.admin import RecordAdmin

from .models import AnalyticsEvent, DailySummary


@admin.register(AnalyticsEvent)
class AnalyticsEventAdmin(RecordAdmin):
    list_display = ["id", "name", "order_id", "customer_id", "units", "revenue", "occurred_at"]
    list_filter = ["name", "occurred_at"]
    search_fields = ["order_id", "customer_id"]
    date_hierarchy = "occurred_at"


@admin.register(DailySummary)
class DailySummaryAdmin(RecordAdmin):
    list_display = [
        "day",
        "orders",
        "units",
        "revenue",
        "side_effect_lag_p50_ms",
        "side_effect_lag_p95_ms",
        "side_effects_failed",
        "updated_at",
    ]
    date_hierarchy = "day"
