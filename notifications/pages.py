"""The notifications page: server-rendered, with a little JavaScript (the stream)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie  # the page's POSTs (mark read) send the cookie's token back
def notifications_page(request):
    return render(request, "notifications/page.html")
