from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(use_regex_path=False)  # the endpoints' ids as <int:endpoint_id>
router.register("endpoints", views.EndpointViewSet, basename="webhook-endpoint")

urlpatterns = [
    *router.urls,
    path("event-types/", views.EventTypesView.as_view(), name="webhook-event-types"),
    # A delivery's id as the shop makes them (webhooks.signatures): nothing else is looked up.
    re_path(
        r"^deliveries/(?P<delivery_id>msg_[0-9a-f]{32})/redeliver/$",
        views.RedeliverView.as_view(),
        name="webhook-redeliver",
    ),
]
