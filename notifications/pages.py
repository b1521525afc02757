"""The notifications page (the React tab of frontend/, in the site's frame), the unsubscribe
links of emails, and the push service worker."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from django.views.decorators.http import require_http_methods

from . import unsubscribe_links


@login_required
@ensure_csrf_cookie  # the page's POSTs (mark read) send the cookie's token back
def notifications_page(request):
    return render(request, "notifications/page.html")


@csrf_exempt  # the link's token is the credential; mail clients POST without a page
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """A link in every notification email, no login. GET (a person, or a mail scanner
    following links) only asks; POST, the page's button or a mail client's one-click
    unsubscribe (RFC 8058), turns that kind's email off."""
    try:
        if request.method == "POST":
            kind = unsubscribe_links.email_unsubscribe(token=token)
        else:
            kind = unsubscribe_links.unsubscription_check(token=token)
    except unsubscribe_links.UnsubscribeRefused as refused:
        context = {"error": str(refused)}
        return render(request, "notifications/unsubscribe.html", context, status=400)
    context = {"label": kind.label, "done": request.method == "POST"}
    return render(request, "notifications/unsubscribe.html", context)


def service_worker(request):
    """The push service worker, served from the root so that its scope is the site."""
    response = render(request, "notifications/sw.js", content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response
