from django.contrib import admin

from .models import Notification, NotificationPreference


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "recipient", "kind", "message", "is_read", "created_at"]
    list_filter = ["is_read", "kind", "created_at"]
    search_fields = ["message", "recipient__username", "recipient__email"]
    list_select_related = ["recipient"]
    raw_id_fields = ["recipient"]
    readonly_fields = ["created_at", "read_at", "emailed_at"]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "in_app", "email", "push", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]
