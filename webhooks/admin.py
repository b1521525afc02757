from django.contrib import admin, messages

from core.admin import RecordAdmin
from core.exceptions import DomainError

from .models import Attempt, Delivery, Endpoint
from .selectors import deliveries_with_state
from .services.deliveries import delivery_redeliver


@admin.register(Endpoint)
class EndpointAdmin(RecordAdmin):
    """Made and changed through the API (its URL checked there); seen here."""

    list_display = ["id", "url", "events", "enabled", "disabled_reason", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "description"]
    exclude = ["secret", "previous_secret"]


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    fields = readonly_fields = ["at", "status_code", "duration_ms", "error"]
    can_delete = False


@admin.register(Delivery)
class DeliveryAdmin(RecordAdmin):
    list_display = ["id", "endpoint", "event_type", "status", "next_attempt_at"]
    list_filter = ["event_type"]
    search_fields = ["id", "endpoint__url"]
    list_select_related = ["endpoint"]
    inlines = [AttemptInline]
    actions = ["redeliver"]

    def get_queryset(self, request):
        return deliveries_with_state(super().get_queryset(request))

    def status(self, delivery):  # its job's, as the API shows it
        return delivery.status

    def next_attempt_at(self, delivery):
        return delivery.next_attempt_at

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
