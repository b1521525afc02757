from django import forms
from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied

from core.admin import RecordAdmin

from . import selectors
from .models import LoginEvent, LoginFailure, PasswordResetRequest, SignUpAttempt
from .services import EMAIL_TAKEN

User = get_user_model()


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


@admin.register(SignUpAttempt)
class SignUpAttemptAdmin(AuditAdmin):
    list_display = ["at", "email", "ip", "made"]
    list_filter = ["made", "at"]
    search_fields = ["email", "ip"]
    date_hierarchy = "at"


@admin.register(PasswordResetRequest)
class PasswordResetRequestAdmin(AuditAdmin):
    list_display = ["at", "user", "ip"]
    list_filter = ["at"]
    search_fields = ["user__username", "user__email", "ip"]
    list_select_related = ["user"]
    date_hierarchy = "at"


class UserChangeForm(auth_admin.UserChangeForm):
    """Django's, which says so when another account has the email address, in any case
    (the unique index on LOWER(email) would refuse it: a 500)."""

    def clean_email(self):
        email = self.cleaned_data.get("email") or ""
        other_than = self.instance if self.instance.pk else None
        if selectors.email_taken(email=email, other_than=other_than):
            raise forms.ValidationError(EMAIL_TAKEN)
        return email


# Django's user admin (registered by django.contrib.auth, an app before this one), its
# change form checking the email address as sign-up does.
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    form = UserChangeForm
