from django.contrib import admin
from django.urls import include, path
from rest_framework.authtoken.views import ObtainAuthToken

from . import health, views

handler404 = "core.api.json_not_found"
handler500 = "core.api.json_server_error"

api = [
    path("auth/register/", views.RegisterView.as_view(), name="register"),
    path("auth/token/", ObtainAuthToken.as_view(), name="token"),
    path("", include("store.urls")),
    path("analytics/", include("analytics_app.urls")),
]

urlpatterns = [
    path("api/", include(api)),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
