from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import account, health, stream, views
from .forms import LoginForm

handler400 = "core.api.json_bad_request"
handler403 = "core.api.json_permission_denied"
handler404 = "core.api.json_not_found"
handler500 = "core.api.json_server_error"

api = [
    path("auth/register/", views.RegisterView.as_view(), name="register"),
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("auth/logins/", views.LoginListView.as_view(), name="logins"),
    path("notifications/", views.NotificationListView.as_view(), name="notification-list"),
    path(
        "notifications/unread-count/",
        views.NotificationUnreadCountView.as_view(),
        name="notification-unread-count",
    ),
    path(
        "notifications/<int:notification_id>/read/",
        views.NotificationReadView.as_view(),
        name="notification-read",
    ),
    path(
        "notifications/read-all/",
        views.NotificationReadAllView.as_view(),
        name="notification-read-all",
    ),
    path(
        "notifications/stream-token/",
        views.StreamTokenView.as_view(),
        name="notification-stream-token",
    ),
    path("notifications/stream/", stream.notification_stream, name="notification-stream"),
    path(
        "orders/<int:order_id>/messages/",
        views.OrderMessagesView.as_view(),
        name="order-messages",
    ),
    path("", include("store.urls")),
    path("analytics/", include("analytics_app.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("api/", include(api)),
    path("healthz", health.healthz, name="healthz"),
    path(
        "account/login/",
        account.login_throttled(
            auth_views.LoginView.as_view(
                template_name="core/login.html", authentication_form=LoginForm
            )
        ),
        name="login",
    ),
    path("account/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/notifications/", account.notifications_page, name="notifications-page"),
    path("admin/", admin.site.urls),
]
