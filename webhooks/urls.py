from django.urls import path, re_path

from . import views

urlpatterns = [
    path("endpoints/", views.EndpointListView.as_view(), name="webhook-endpoint-list"),
    path(
        "endpoints/<int:endpoint_id>/",
        views.EndpointDetailView.as_view(),
        name="webhook-endpoint-detail",
    ),
    path(
        "endpoints/<int:endpoint_id>/rotate-secret/",
        views.RotateSecretView.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    path(
        "endpoints/<int:endpoint_id>/test/",
        views.EndpointTestView.as_view(),
        name="webhook-endpoint-test",
    ),
    path(
        "endpoints/<int:endpoint_id>/deliveries/",
        views.DeliveryListView.as_view(),
        name="webhook-delivery-list",
    ),
    # A delivery's id as the shop makes them (webhooks.signatures): nothing else is looked up.
    re_path(
        r"^deliveries/(?P<delivery_id>msg_[0-9a-f]{32})/redeliver/$",
        views.RedeliverView.as_view(),
        name="webhook-redeliver",
    ),
]
