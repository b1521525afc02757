from django.urls import path

from . import views

urlpatterns = [
    path("products/", views.ProductListView.as_view(), name="product-list"),
    path("carts/", views.CartListCreateView.as_view(), name="cart-list"),
    path("carts/<uuid:cart_id>/", views.CartDetailView.as_view(), name="cart-detail"),
    path("carts/<uuid:cart_id>/items/", views.CartItemListView.as_view(), name="cart-items"),
    path("orders/", views.OrderListCreateView.as_view(), name="order-list"),
    path("orders/<int:order_id>/", views.OrderDetailView.as_view(), name="order-detail"),
]
