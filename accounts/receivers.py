"""The login audit: every login path (token, session, admin) sends Django's signals."""

from . import services


def audit_login(sender, request, user, method=None, **kwargs):
    """user_logged_in: session and admin logins (Django), token logins (accounts.views,
    which names the method)."""
    services.login_record(user=user, request=request, method=method)


def audit_login_failure(sender, credentials, request=None, **kwargs):
    """user_login_failed: Django has masked the password; it is not read here either."""
    services.login_failure_record(username=str(credentials.get("username") or ""), request=request)
