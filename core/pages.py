"""What the site's pages share beyond their frame (core/templates/core/base.html)."""

import functools

from django.contrib.auth.views import redirect_to_login
from django.urls import reverse


def signed_in_or_back_to(page: str, *arguments: str):
    """For a form's POST-only view: a visitor not signed in (a session that ran out) is
    sent to log in and then back to `page` (a view name, given these of the view's URL
    arguments), not to the form's URL, where a GET is a 405."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                back = reverse(page, kwargs={name: kwargs[name] for name in arguments})
                return redirect_to_login(back)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def loaded_ahead(request) -> bool:
    """Whether the browser only loads the page ahead (a prefetch or prerender, which nobody
    may ever see): such a load marks nothing read."""
    purpose = request.headers.get("Sec-Purpose") or request.headers.get("Purpose") or ""
    return purpose.startswith("prefetch")
