from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from .models import LoginEvent, LoginFailure, Message, Notification


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


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "order", "author", "short_body", "created_at"]
    list_filter = ["created_at", "author__is_staff"]
    search_fields = ["body", "author__username", "order__id"]
    list_select_related = ["author", "order"]
    raw_id_fields = ["order", "author"]
    readonly_fields = ["created_at"]

    @admin.display(description="message")
    def short_body(self, obj):
        return obj.body if len(obj.body) <= 80 else obj.body[:77] + "..."


class ReadOnlyAdmin(admin.ModelAdmin):
    """An audit trail: staff read it; nobody edits or deletes it here (the scheduled
    prune does, after SHOPFLOW_LOGIN_AUDIT_RETENTION_DAYS). The delete permission itself
    stays: the admin asks it when a user is deleted, and their rows go with them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        raise PermissionDenied

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "show_delete": False}
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(LoginEvent)
class LoginEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "user", "method", "ip", "user_agent"]
    list_filter = ["method", "at"]
    search_fields = ["user__username", "ip"]
    list_select_related = ["user"]
    date_hierarchy = "at"


@admin.register(LoginFailure)
class LoginFailureAdmin(ReadOnlyAdmin):
    list_display = ["at", "username", "ip", "user_agent"]
    list_filter = ["at"]
    search_fields = ["username", "ip"]
    date_hierarchy = "at"
