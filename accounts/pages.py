"""The account pages: session login (throttled as every login path is) and logout."""

import functools

from django.contrib.auth import views as auth_views

from .forms import LoginForm


def login_throttled(view):
    """A login page whose form refused a throttled attempt (accounts.forms) answers 429
    with Retry-After; the form is shown again, with its message."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        wait = getattr(request, "login_retry_after", None)
        if wait:
            response.status_code = 429
            response["Retry-After"] = str(wait)
        return response

    return wrapped


login = login_throttled(
    auth_views.LoginView.as_view(template_name="accounts/login.html", authentication_form=LoginForm)
)
logout = auth_views.LogoutView.as_view()
