"""The login audit: who logged in, how and from where, and the failed attempts the
throttle counts; the sign-ups its throttle counts; the password resets asked for."""

from django.conf import settings
from django.db import models


class LoginEvent(models.Model):
    """A successful login: session, admin or API token."""

    class Method(models.TextChoices):
        SESSION = "session", "Session"
        ADMIN = "admin", "Admin"
        TOKEN = "token", "API token"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_events"
    )
    at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    method = models.CharField(max_length=16, choices=Method.choices)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "-at"], name="loginevent_user_idx")]

    def __str__(self):
        return f"{self.user_id} {self.method} login at {self.at:%Y-%m-%d %H:%M}"


class LoginFailure(models.Model):
    """A failed login: the username tried (which may not exist), never the password."""

    username = models.CharField(max_length=150, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)
    # The client's network, whose budget the failure spends: an IPv6 address's /64.
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # Every login path counts recent failures by IP and by username.
            models.Index(fields=["ip", "at"], name="loginfailure_ip_idx"),
            models.Index(fields=["username", "at"], name="loginfailure_username_idx"),
        ]

    def __str__(self):
        return f"failed login for {self.username!r} from {self.ip}"


class LoginGate(models.Model):
    """One per username that was tried: an attempt at it holds it (`held_until`, a lease)
    while its password is checked, so attempts are checked one at a time, each counting
    the failures of those before it. A lease, not a row lock: no transaction stays open,
    idle, while a slow hash runs (PostgreSQL would end it: a 500)."""

    key = models.CharField(primary_key=True, max_length=200)  # "username:…"
    used_at = models.DateTimeField()
    held_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.key


class SignUpAttempt(models.Model):
    """A sign-up that got past the form's checks (accounts.services.user_register): whether
    it made an account (and so queued a welcome email) or was refused (its email address
    or username taken). The sign-up throttle counts them; one it refused is not one."""

    at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    email = models.CharField(max_length=254)  # lowercased
    made = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["ip", "at"], name="signupattempt_ip_idx"),
            models.Index(fields=["email", "at"], name="signupattempt_email_idx"),
        ]

    def __str__(self):
        return f"sign-up for {self.email!r} from {self.ip}"


class PasswordResetRequest(models.Model):
    """Someone asked for a reset link for this account (the password reset page, for the
    account's email address). email_app sends the link, a job keyed by the request
    ("<user id>:<request id>"), queued by its post_save receiver in the transaction that
    makes the row."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="password_resets"
    )
    at = models.DateTimeField(auto_now_add=True)
    # The client's network (an IPv6 /64), whose budget it spends (selectors.client_network).
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["user", "at"], name="passwordreset_user_idx"),
            models.Index(fields=["ip", "at"], name="passwordreset_ip_idx"),
        ]

    def __str__(self):
        return f"password reset for {self.user_id} at {self.at:%Y-%m-%d %H:%M}"
