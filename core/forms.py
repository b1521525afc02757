"""The login forms of the account and admin pages, throttled as the token endpoint is."""

import functools
import math

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from . import selectors, services


class LoginThrottleMixin:
    """Refuses the attempt before the password is checked while its IP or its username
    has too many recent failures (core.selectors.login_retry_after). A refused attempt
    records no failure, so waiting it out is enough; the page answers 429 with
    Retry-After (login_throttled)."""

    def clean(self):
        # As the token endpoint counts it, and as the failure was recorded: cleaned.
        username = self.cleaned_data.get("username") or None
        wait = selectors.login_retry_after(ip=services.request_ip(self.request), username=username)
        if wait:
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


def login_throttled(view):
    """A login page whose form refused a throttled attempt answers 429 with Retry-After
    (the form is shown again, with its message)."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        wait = getattr(request, "login_retry_after", None)
        if wait:
            response.status_code = 429
            response["Retry-After"] = str(wait)
        return response

    return wrapped
