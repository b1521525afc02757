from django.contrib import admin, messages

from core.exceptions import DomainError

from .models import Attempt, Delivery, Endpoint
from .services.deliveries import delivery_redeliver


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    """Made and changed through the API (its URL checked there); seen here."""

    list_display = ["id", "url", "events", "enabled", "disabled_reason", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "description"]
    exclude = ["secret", "previous_secret"]
    readonly_fields = [
        f.name
        for f in Endpoint._meta.get_fields()
        if f.concrete and f.name not in ("secret", "previous_secret")
    ]

    def has_add_permission(self, request):
        return False


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    fields = readonly_fields = ["at", "status_code", "duration_ms", "error"]
    can_delete = False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "endpoint", "event_type", "status", "tries", "next_attempt_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["id", "endpoint__url"]
    list_select_related = ["endpoint"]
    readonly_fields = [f.name for f in Delivery._meta.get_fields() if f.concrete]
    inlines = [AttemptInline]
    actions = ["redeliver"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Redeliver the selected deliveries now (same webhook-id)")
    def redeliver(self, request, queryset):
        sent = 0
        for delivery_id in queryset.values_list("pk", flat=True):
            try:
                delivery_redeliver(delivery_id=delivery_id)
                sent += 1
            except DomainError as refused:
                self.message_user(request, f"{delivery_id}: {refused.detail}", messages.WARNING)
        self.message_user(request, f"Redelivering {sent} delivery(ies).", messages.SUCCESS)
