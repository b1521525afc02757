"""The notifications' URLs at the site's root: the unsubscribe links of emails, and the
push service worker (its scope is the path it is served from: the whole site)."""

from django.urls import path

from . import pages

urlpatterns = [
    path("unsubscribe/<str:token>/", pages.unsubscribe, name="notifications-unsubscribe"),
    path("sw.js", pages.service_worker, name="notifications-service-worker"),
]
