"""The customer-facing pages: server-rendered, with a little JavaScript."""

import functools

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie  # the page's POSTs (mark read) send the cookie's token back
def notifications_page(request):
    return render(request, "core/notifications.html")


def login_throttled(view):
    """A login page whose form refused a throttled attempt (core.forms) answers 429 with
    Retry-After; the form is shown again, with its message."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        wait = getattr(request, "login_retry_after", None)
        if wait:
            response.status_code = 429
            response["Retry-After"] = str(wait)
        return response

    return wrapped
