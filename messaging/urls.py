from django.urls import path

from . import views

urlpatterns = [
    path(
        "orders/<int:order_id>/messages/", views.OrderMessagesView.as_view(), name="order-messages"
    ),
    path(
        "orders/<int:order_id>/messages/read/",
        views.OrderMessagesReadView.as_view(),
        name="order-messages-read",
    ),
]
