"""The notifications page: server-rendered, with a little JavaScript (the stream)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from django.views.decorators.http import require_http_methods

from . import emails


@login_required
@ensure_csrf_cookie  # the page's POSTs (mark read) send the cookie's token back
def notifications_page(request):
    return render(request, "notifications/page.html")


@csrf_exempt  # mail clients' one-click unsubscribe POSTs without a page (RFC 8058)
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """A link in every notification email: turns that kind's email off, no login."""
    try:
        label = emails.email_unsubscribe(token=token)
    except emails.UnsubscribeRefused as refused:
        return render(
            request, "notifications/unsubscribe.html", {"error": str(refused)}, status=400
        )
    return render(request, "notifications/unsubscribe.html", {"label": label})


def service_worker(request):
    """The push service worker, served from the root so that its scope is the site."""
    response = render(request, "notifications/sw.js", content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response
