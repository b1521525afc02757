from django.contrib import admin
from django.utils import timezone

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "recipient", "kind", "message", "is_read", "created_at"]
    list_filter = ["is_read", "kind", "created_at"]
    search_fields = ["message", "recipient__username", "recipient__email"]
    list_select_related = ["recipient"]
    raw_id_fields = ["recipient"]
    readonly_fields = ["created_at", "read_at"]
    actions = ["mark_read", "mark_unread"]

    @admin.action(description="Mark selected notifications read")
    def mark_read(self, request, queryset):
        count = queryset.filter(is_read=False).update(is_read=True, read_at=timezone.now())
        self.message_user(request, f"{count} notification(s) marked read.")

    @admin.action(description="Mark selected notifications unread")
    def mark_unread(self, request, queryset):
        count = queryset.filter(is_read=True).update(is_read=False, read_at=None)
        self.message_user(request, f"{count} notification(s) marked unread.")
