"""The URLs: each app's API under /api/, its pages under /account/; notifications' routes,
all in one module, at the root; the front door, `/` (config.pages). The project puts its
apps together here, so it imports their URL modules, and routes the pages of accounts,
store and analytics_app itself."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

import accounts.pages
import accounts.urls
import analytics_app.pages
import analytics_app.urls
import config.pages
import messaging.pages
import messaging.urls
import notifications.urls
import store.pages
import store.shop_pages
import store.urls
import webhooks.urls
from core import health, metrics
from core.api import json_bad_request, json_not_found, json_permission_denied, json_server_error

handler400 = json_bad_request
handler403 = json_permission_denied
handler404 = json_not_found
handler500 = json_server_error

api = [
    path("auth/", include(accounts.urls)),
    path("", include(messaging.urls)),
    path("", include(store.urls)),
    path("analytics/", include(analytics_app.urls)),
    path("webhooks/", include(webhooks.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("api/", include(api)),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("", config.pages.front_door, name="front-door"),
    path("account/login/", accounts.pages.login, name="login"),
    path("account/logout/", accounts.pages.logout, name="logout"),
    path("account/signup/", accounts.pages.signup, name="signup"),
    path("account/password/", accounts.pages.password_change, name="password-change"),
    path(
        "account/password/done/",
        accounts.pages.password_change_done,
        name="password-change-done",
    ),
    path("account/password/reset/", accounts.pages.password_reset, name="password-reset"),
    path(
        "account/password/reset/sent/",
        accounts.pages.password_reset_sent,
        name="password-reset-sent",
    ),
    path(
        "account/password/reset/complete/",
        accounts.pages.password_reset_complete,
        name="password-reset-complete",
    ),
    path(
        "account/password/reset/<uidb64>/<token>/",
        accounts.pages.password_reset_confirm,
        name="password-reset-confirm",
    ),
    path("shop/", store.shop_pages.catalog_page, name="catalog-page"),
    path("shop/cart/", store.shop_pages.cart_page, name="cart-page"),
    path("shop/cart/add/", store.shop_pages.cart_add_page, name="cart-add-page"),
    path("shop/cart/lines/<int:item_id>/", store.shop_pages.cart_line_page, name="cart-line-page"),
    path("shop/cart/checkout/", store.shop_pages.cart_checkout_page, name="cart-checkout-page"),
    path("account/orders/", store.pages.order_list_page, name="order-list-page"),
    path("account/orders/<int:order_id>/", config.pages.order_page, name="order-page"),
    path(
        "account/orders/<int:order_id>/messages/",
        messaging.pages.message_post_page,
        name="order-message-page",
    ),
    path(
        "account/orders/<int:order_id>/cancel/",
        store.pages.order_cancel_page,
        name="order-cancel-page",
    ),
    path("account/analytics/", analytics_app.pages.analytics_page, name="analytics-page"),
    path("", include(notifications.urls)),  # its API, page, links and service worker
    path("admin/", admin.site.urls),
]
