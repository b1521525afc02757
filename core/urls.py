from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import health, views

handler400 = "core.api.json_bad_request"
handler403 = "core.api.json_permission_denied"
handler404 = "core.api.json_not_found"
handler500 = "core.api.json_server_error"

api = [
    path("auth/register/", views.RegisterView.as_view(), name="register"),
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("", include("store.urls")),
    path("analytics/", include("analytics_app.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("api/", include(api)),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
