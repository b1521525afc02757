from django.urls import path

from . import stream, views

urlpatterns = [
    path("", views.NotificationListView.as_view(), name="notification-list"),
    path(
        "unread-count/",
        views.NotificationUnreadCountView.as_view(),
        name="notification-unread-count",
    ),
    path(
        "<int:notification_id>/read/",
        views.NotificationReadView.as_view(),
        name="notification-read",
    ),
    path("read-all/", views.NotificationReadAllView.as_view(), name="notification-read-all"),
    path("stream-token/", views.StreamTokenView.as_view(), name="notification-stream-token"),
    path("stream/", stream.notification_stream, name="notification-stream"),
    path("preferences/", views.PreferencesView.as_view(), name="notification-preferences"),
]
