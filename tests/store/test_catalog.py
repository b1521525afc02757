"""The catalog is public: anyone may browse products; nothing else opened up."""

import pytest
from django.urls import get_resolver

from tests.factories import ProductFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_too]

PUBLIC = {
    "product-list",
    "product-detail",
    "product-price-history",
    "register",
    "token",
    "healthz",
    "schema",
    "docs",
    # A service worker has no session: the old endpoint, an unguessable URL, stands for it.
    "push-subscription-renew",
}


def test_anyone_may_list_products(anon_client):
    ProductFactory(sku="MUG-1", price="12.50", on_hand=7)
    ProductFactory(is_active=False)

    response = anon_client.get("/api/products/")

    assert response.status_code == 200
    [product] = response.json()["results"]
    assert (product["sku"], product["price"], product["available"]) == ("MUG-1", "12.50", 7)


def test_anyone_may_read_one_product(anon_client):
    product = ProductFactory()
    assert anon_client.get(f"/api/products/{product.pk}/").json()["sku"] == product.sku
    assert anon_client.get("/api/products/999999/").status_code == 404


def test_anyone_may_not_change_products(anon_client, client):
    product = ProductFactory()
    for api in (anon_client, client):
        assert api.post("/api/products/", {}, format="json").status_code in (401, 405)
        assert api.delete(f"/api/products/{product.pk}/").status_code in (401, 405)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/carts/"),
        ("post", "/api/carts/"),
        ("get", "/api/carts/00000000-0000-0000-0000-000000000000/"),
        ("post", "/api/carts/00000000-0000-0000-0000-000000000000/items/"),
        ("patch", "/api/carts/00000000-0000-0000-0000-000000000000/items/1/"),
        ("get", "/api/orders/"),
        ("post", "/api/orders/"),
        ("get", "/api/orders/1/"),
        ("get", "/api/analytics/events/"),
        ("get", "/api/analytics/daily/"),
    ],
)
def test_everything_else_still_needs_credentials(anon_client, method, path):
    response = getattr(anon_client, method)(path, {}, format="json")
    assert response.status_code == 401, path


def test_no_other_endpoint_is_public():
    """A new endpoint that lets anyone in must be added to PUBLIC on purpose."""
    from rest_framework.permissions import AllowAny

    opened = set()
    for pattern in _named_patterns(get_resolver().url_patterns):
        view_class = getattr(pattern.callback, "view_class", None)
        if any(p is AllowAny for p in getattr(view_class, "permission_classes", [])):
            opened.add(pattern.name)
    assert {"product-list", "product-detail"} <= opened
    assert opened <= PUBLIC, opened - PUBLIC


def _named_patterns(patterns):
    from django.urls import URLPattern, URLResolver

    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _named_patterns(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield pattern
