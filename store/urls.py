from django.urls import path

from . import views

urlpatterns = [
    path("products/", views.ProductListView.as_view(), name="product-list"),
    path("products/<int:pk>/", views.ProductDetailView.as_view(), name="product-detail"),
    path(
        "products/<int:pk>/price-history/",
        views.ProductPriceHistoryView.as_view(),
        name="product-price-history",
    ),
    path("carts/", views.CartListCreateView.as_view(), name="cart-list"),
    path("carts/<uuid:cart_id>/", views.CartDetailView.as_view(), name="cart-detail"),
    path("carts/<uuid:cart_id>/items/", views.CartItemListView.as_view(), name="cart-items"),
    path(
        "carts/<uuid:cart_id>/items/<int:item_id>/",
        views.CartItemDetailView.as_view(),
        name="cart-item-detail",
    ),
    path("orders/", views.OrderListCreateView.as_view(), name="order-list"),
    path("orders/<int:order_id>/", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<int:order_id>/cancel/", views.OrderCancelView.as_view(), name="order-cancel"),
    path("orders/<int:order_id>/fulfil/", views.OrderFulfilView.as_view(), name="order-fulfil"),
]
