"""The login forms of the account and admin pages, throttled as the token endpoint is, the
sign-up page's form, and the password reset page's."""

import logging
import math

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.validators import UnicodeUsernameValidator

from . import selectors, services
from .exceptions import LoginThrottled, Throttled

audit_logger = logging.getLogger("shopflow.audit")


class LoginThrottleMixin:
    """AuthenticationForm's clean(), its authenticate() throttled as every login path is
    (accounts.services.login_authenticate): refused, the password unchecked, while the
    account (or the address) has too many recent failures. A refused attempt records no failure, so
    waiting it out is enough; the page answers 429 with Retry-After
    (accounts.pages.login_throttled)."""

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return self.cleaned_data  # no password is checked: nothing to count
        try:
            self.user_cache = services.login_authenticate(
                request=self.request, username=username, password=password
            )
        except LoginThrottled as refused:
            ip = services.request_ip(request=self.request)
            # Not a failure (nothing was checked), but an attack in progress shows here.
            audit_logger.warning("login refused, throttled: %r from %s", username, ip)
            if self.request is not None:
                self.request.login_retry_after = refused.retry_after
            raise throttled_error(refused) from None
        if self.user_cache is None:
            raise self.get_invalid_login_error()
        try:
            self.confirm_login_allowed(self.user_cache)
        except forms.ValidationError:
            # The admin's refusal of a customer: counted as a failure, as it is one here.
            services.login_failure_record(username=username, request=self.request)
            raise
        return self.cleaned_data


class LoginForm(LoginThrottleMixin, AuthenticationForm):
    pass


class AdminLoginForm(LoginThrottleMixin, AdminAuthenticationForm):
    pass


NEW_PASSWORD = forms.PasswordInput(attrs={"autocomplete": "new-password"})


class SignUpForm(forms.Form):
    """The sign-up page's form: the API's registration fields (RegisterSerializer), the
    password typed twice. The user is made by the same service (services.user_register)."""

    username = forms.RegexField(
        UnicodeUsernameValidator.regex,  # the User model's own rule
        max_length=150,
        error_messages={"invalid": "Letters, digits and @ . + - _ only."},
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(max_length=128, strip=False, widget=NEW_PASSWORD)
    password_again = forms.CharField(max_length=128, strip=False, widget=NEW_PASSWORD)

    def clean_username(self):
        username = self.cleaned_data["username"]
        if selectors.username_taken(username=username):
            raise forms.ValidationError("This username is taken.")
        return username

    def clean(self):
        password, again = self.cleaned_data.get("password"), self.cleaned_data.get("password_again")
        if password and again and password != again:
            self.add_error("password_again", "The two passwords differ.")
        return self.cleaned_data


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's form (the accounts with this email address, in any case, active and with a
    password), which sends nothing in the request: each account's request is recorded
    (services.password_reset_request) and email_app sends the link as a job of its own,
    retried as every email is. An address no account has gets the same answer and nothing
    is sent."""

    def save(self, request=None, **_django_options):
        # Django's options (templates, token generator, domain) are the email's: email_app's
        # job makes its own link, with Django's token generator, when it sends it.
        for user in self.get_users(self.cleaned_data["email"]):
            services.password_reset_request(user=user, request=request)


def throttled_error(refused: Throttled) -> forms.ValidationError:
    """A page's words for a throttled login or sign-up: why, and how long to wait."""
    return forms.ValidationError(
        "%(reason)s Try again in %(wait)s.",
        code="throttled",
        params={"reason": refused.reason, "wait": wait_in_words(refused.retry_after)},
    )


def wait_in_words(seconds: int) -> str:
    """A wait as a person reads it: minutes up to two hours, hours beyond."""
    minutes = math.ceil(seconds / 60)
    if minutes <= 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = math.ceil(seconds / 3600)
    return f"{hours} hours"
