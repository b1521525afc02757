"""Every route of notifications, included at the site's root: its API (under /api/), the
page, the unsubscribe links of emails, the push service worker (its scope is the path it
is served from: the whole site), and the WebSocket (config.asgi routes sockets here)."""

from django.urls import path

from . import pages, stream, views
from .consumers import NotificationConsumer

API = "api/notifications/"
PUSH = "api/push/"

urlpatterns = [
    path(API, views.NotificationListView.as_view(), name="notification-list"),
    path(
        f"{API}unread-count/",
        views.NotificationUnreadCountView.as_view(),
        name="notification-unread-count",
    ),
    path(
        f"{API}<int:notification_id>/read/",
        views.NotificationReadView.as_view(),
        name="notification-read",
    ),
    path(f"{API}read-all/", views.NotificationReadAllView.as_view(), name="notification-read-all"),
    path(f"{API}stream-token/", views.StreamTokenView.as_view(), name="notification-stream-token"),
    path(f"{API}stream/", stream.notification_stream, name="notification-stream"),
    path(f"{API}preferences/", views.PreferencesView.as_view(), name="notification-preferences"),
    path(f"{PUSH}key/", views.PushKeyView.as_view(), name="push-key"),
    path(
        f"{PUSH}subscriptions/",
        views.PushSubscriptionListView.as_view(),
        name="push-subscriptions",
    ),
    path(
        f"{PUSH}subscriptions/renew/",
        views.PushSubscriptionRenewView.as_view(),
        name="push-subscription-renew",
    ),
    path(
        f"{PUSH}subscriptions/<int:subscription_id>/",
        views.PushSubscriptionDetailView.as_view(),
        name="push-subscription",
    ),
    path("account/notifications/", pages.notifications_page, name="notifications-page"),
    path("unsubscribe/<str:token>/", pages.unsubscribe, name="notifications-unsubscribe"),
    path("sw.js", pages.service_worker, name="notifications-service-worker"),
]

websocket_urlpatterns = [path("ws/notifications/", NotificationConsumer.as_asgi())]
