"""The plain design's URLs: the part of Shopflow's API a shopper's order goes through."""

from django.urls import include, path

from . import accounts
from .store import urls as store_urls

api = [
    path("auth/register/", accounts.RegisterView.as_view(), name="register"),
    path("auth/token/", accounts.TokenView.as_view(), name="token"),
    path("", include(store_urls)),
]

urlpatterns = [path("api/", include(api))]
