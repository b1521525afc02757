from django.contrib import admin

from .models import AnalyticsEvent, DailySummary


@admin.register(AnalyticsEvent)
class AnalyticsEventAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "order_id", "customer_id", "units", "revenue", "occurred_at"]
    list_filter = ["name", "occurred_at"]
    search_fields = ["order_id", "customer_id"]
    date_hierarchy = "occurred_at"
    readonly_fields = [f.name for f in AnalyticsEvent._meta.get_fields() if f.concrete]


@admin.register(DailySummary)
class DailySummaryAdmin(admin.ModelAdmin):
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
    readonly_fields = [f.name for f in DailySummary._meta.get_fields() if f.concrete]
