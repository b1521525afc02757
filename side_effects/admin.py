from django.contrib import admin

from core.admin import RecordAdmin

from .models import OrderSideEffect


class OrderSideEffectInline(admin.TabularInline):
    model = OrderSideEffect
    extra = 0
    fields = readonly_fields = ["kind", "status", "error", "redrives", "deadline", "updated_at"]
    can_delete = False


@admin.register(OrderSideEffect)
class OrderSideEffectAdmin(RecordAdmin):
    """Where every side effect stands; the reconciler's re-drives and what is overdue."""

    list_display = ["order", "kind", "status", "redrives", "deadline", "updated_at", "error"]
    list_filter = ["status", "kind", "redrives"]
    search_fields = ["order__id"]
    ordering = ["deadline"]
    list_select_related = ["order"]
