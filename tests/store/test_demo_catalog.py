"""The demo catalog `make run` loads: realistic, with some stock nearly gone, and a rerun
that changes nothing, least of all stock already sold."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F

from store.models import Product

pytestmark = pytest.mark.django_db


def load() -> str:
    out = StringIO()
    call_command("load_demo_catalog", stdout=out)
    return out.getvalue()


def catalog() -> list[tuple]:
    return list(
        Product.objects.order_by("sku").values_list(
            "sku", "name", "price", "on_hand", "reserved", "low_stock_threshold", "is_active"
        )
    )


def test_catalog_is_realistic():
    load()
    products = list(Product.objects.all())

    assert len(products) >= 12
    assert all(p.price > 0 for p in products)
    assert len({p.sku for p in products}) == len(products)
    assert all(p.name and not p.name.startswith("Product ") for p in products)
    assert all(p.low_stock_threshold > 0 for p in products)
    assert all(p.is_active and p.reserved == 0 for p in products)
    in_the_hundreds = [p for p in products if p.on_hand >= 100]
    assert len(in_the_hundreds) >= len(products) // 2
    nearly_sold_out = [p for p in products if p.on_hand <= 2 * p.low_stock_threshold]
    assert 1 <= len(nearly_sold_out) <= len(products) // 3


def test_catalog_shows_up_in_the_product_api(client):
    load()

    body = client.get("/api/products/").json()

    assert body["count"] == Product.objects.count()
    first = body["results"][0]
    assert set(first) >= {"id", "sku", "name", "price", "available"}
    assert float(first["price"]) > 0


def test_loading_twice_leaves_the_same_catalog():
    first_out = load()
    before = catalog()

    second_out = load()

    assert catalog() == before
    assert f"{len(before)} new" in first_out
    assert "0 new" in second_out


def test_rerun_does_not_reset_stock_after_a_sale():
    load()
    sold = Product.objects.get(sku="MUG-ENM-01")
    loaded_on_hand = sold.on_hand
    Product.objects.filter(pk=sold.pk).update(on_hand=F("on_hand") - 7, reserved=2)
    before = catalog()

    load()

    sold.refresh_from_db()
    assert (sold.on_hand, sold.reserved) == (loaded_on_hand - 7, 2)
    assert catalog() == before


def test_rerun_adds_products_missing_from_an_older_catalog():
    load()
    count = Product.objects.count()
    Product.objects.filter(sku="LMP-DSK-LED").delete()

    load()

    assert Product.objects.count() == count
    assert Product.objects.get(sku="LMP-DSK-LED").on_hand > 0
