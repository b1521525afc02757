"""The login forms of the account and admin pages, throttled as the token endpoint is."""

import logging
import math

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from . import services

audit_logger = logging.getLogger("shopflow.audit")


class LoginThrottleMixin:
    """Refuses the attempt before the password is checked while its IP or its username
    has too many recent failures (accounts.services.login_attempt_begin). A refused attempt
    records no failure, so waiting it out is enough; the page answers 429 with
    Retry-After (accounts.pages.login_throttled)."""

    def clean(self):
        # As the token endpoint counts it, and as the failure is recorded: cleaned.
        username = self.cleaned_data.get("username")
        if not username or not self.cleaned_data.get("password"):
            return super().clean()  # no password is checked: nothing to count
        wait = services.login_attempt_begin(username=username, request=self.request)
        if wait:
            ip = services.request_ip(request=self.request)
            # Not a failure (nothing was checked), but an attack in progress shows here.
            audit_logger.warning("login refused, throttled: %r from %s", username, ip)
            if self.request is not None:
                self.request.login_retry_after = wait
            minutes = math.ceil(wait / 60)
            raise forms.ValidationError(
                "Too many failed logins. Try again in %(minutes)s minute(s).",
                code="throttled",
                params={"minutes": minutes},
            )
        return super().clean()


class LoginForm(LoginThrottleMixin, AuthenticationForm):
    pass


class AdminLoginForm(LoginThrottleMixin, AdminAuthenticationForm):
    pass
