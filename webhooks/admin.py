import contextlib

from django.contrib import admin, messages

from core.admin import RecordAdmin
from core.exceptions import DomainError

from .exceptions import EndpointNotFound
from .models import Attempt, Delivery, Endpoint
from .services.deliveries import delivery_redeliver
from .services.endpoints import endpoint_delete


@admin.register(Endpoint)
class EndpointAdmin(RecordAdmin):
    """Made and changed through the API (its URL checked there); seen here."""

    list_display = ["id", "url", "events", "enabled", "disabled_reason", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "description"]
    exclude = ["secret", "previous_secret"]

    def delete_model(self, request, obj):
        endpoint_delete(endpoint_id=obj.pk)  # its deliveries too, as the API's delete

    def delete_queryset(self, request, queryset):
        for endpoint_id in queryset.values_list("pk", flat=True):
            with contextlib.suppress(EndpointNotFound):  # deleted meanwhile
                endpoint_delete(endpoint_id=endpoint_id)


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    fields = readonly_fields = ["at", "status_code", "duration_ms", "error"]
    can_delete = False


@admin.register(Delivery)
class DeliveryAdmin(RecordAdmin):
    list_display = ["key", "endpoint_id", "event_type", "delivery_status", "next_attempt_at"]
    list_filter = ["status"]
    search_fields = ["key"]
    inlines = [AttemptInline]
    actions = ["redeliver"]

    @admin.action(description="Redeliver the selected deliveries now (same webhook-id)")
    def redeliver(self, request, queryset):
        sent = 0
        for delivery_id in queryset.values_list("key", flat=True):
            try:
                delivery_redeliver(delivery_id=delivery_id)
                sent += 1
            except DomainError as refused:
                self.message_user(request, f"{delivery_id}: {refused.detail}", messages.WARNING)
        self.message_user(request, f"Redelivering {sent} delivery(ies).", messages.SUCCESS)
