from django.contrib import admin
from django.core.exceptions import PermissionDenied

from core.admin import RecordAdmin

from .models import LoginEvent, LoginFailure


class AuditAdmin(RecordAdmin):
    """An audit trail: nobody deletes it here either (the scheduled prune does, after
    SHOPFLOW_LOGIN_AUDIT_RETENTION_DAYS). The delete permission itself stays: the admin
    asks it when a user is deleted, and their rows go with them."""

    actions = None  # no "delete selected"

    def delete_view(self, request, object_id, extra_context=None):
        raise PermissionDenied

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "show_delete": False}
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(LoginEvent)
class LoginEventAdmin(AuditAdmin):
    list_display = ["at", "user", "method", "ip", "user_agent"]
    list_filter = ["method", "at"]
    search_fields = ["user__username", "ip"]
    list_select_related = ["user"]
    date_hierarchy = "at"


@admin.register(LoginFailure)
class LoginFailureAdmin(AuditAdmin):
    list_display = ["at", "username", "ip", "user_agent"]
    list_filter = ["at"]
    search_fields = ["username", "ip"]
    date_hierarchy = "at"
