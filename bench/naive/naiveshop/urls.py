from django.urls import path

from . import views

urlpatterns = [
    path("api/carts/", views.cart_create),
    path("api/carts/<uuid:cart_id>/items/", views.cart_item_add),
    path("api/orders/", views.checkout),
]
