from django.urls import path

from . import push_views

urlpatterns = [
    path("key/", push_views.PushKeyView.as_view(), name="push-key"),
    path(
        "subscriptions/",
        push_views.PushSubscriptionListView.as_view(),
        name="push-subscriptions",
    ),
    path(
        "subscriptions/renew/",
        push_views.PushSubscriptionRenewView.as_view(),
        name="push-subscription-renew",
    ),
    path(
        "subscriptions/<int:subscription_id>/",
        push_views.PushSubscriptionDetailView.as_view(),
        name="push-subscription",
    ),
]
