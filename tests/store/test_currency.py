"""Every product, cart and order the API answers names the shop's currency
(SHOPFLOW_CURRENCY): read-only, the same for all of them; and the order's notification
and pages name it beside the total."""

import pytest
import yaml
from django.test import Client

from notifications.models import Notification
from tests.factories import ProductFactory
from tests.support import PROJECT_DIR
from tests.support.orders import place_order

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _francs(settings):
    settings.SHOPFLOW_CURRENCY = "CHF"


def test_products_name_the_shops_currency(anon_client):
    mug = ProductFactory(price="12.50")

    [listed] = anon_client.get("/api/products/").json()["results"]
    one = anon_client.get(f"/api/products/{mug.pk}/").json()

    assert (listed["price"], listed["currency"]) == ("12.50", "CHF")
    assert one["currency"] == "CHF"


def test_carts_name_it_from_the_first_answer_on(client):
    product = ProductFactory(price="10.00")
    created = client.post("/api/carts/", {"currency": "USD"}, format="json")  # not a field
    cart_id = created.json()["id"]
    added = {"product_id": product.pk, "quantity": 2}
    client.post(f"/api/carts/{cart_id}/items/", added, format="json")

    assert created.status_code == 201 and created.json()["currency"] == "CHF"
    cart = client.get(f"/api/carts/{cart_id}/").json()
    assert (cart["total"], cart["currency"]) == ("20.00", "CHF")


def test_orders_name_it_when_placed_listed_and_read(client, customer):
    placed = place_order(customer, client=client)

    assert placed["currency"] == "CHF"
    assert client.get("/api/orders/").json()["results"][0]["currency"] == "CHF"
    assert client.get(f"/api/orders/{placed['id']}/").json()["currency"] == "CHF"


def test_the_order_placed_notification_names_it_beside_the_total(client, customer):
    placed = place_order(customer, (ProductFactory(price="7.25"), 2), client=client)

    [notification] = Notification.objects.filter(recipient=customer.user)
    assert notification.message == f"Order #{placed['id']} confirmed: 14.50 CHF"


@pytest.mark.parametrize("component", ["Product", "Cart", "Order"])
def test_the_schema_has_it_as_a_read_only_string(component):
    schema = yaml.safe_load((PROJECT_DIR / "openapi.yaml").read_text())["components"]["schemas"]

    field = schema[component]["properties"]["currency"]
    assert field["type"] == "string" and field["readOnly"] is True
    assert "currency" in schema[component]["required"]


@pytest.mark.parametrize("path", ["/", "/account/orders/", "/account/orders/{id}/"])
def test_the_pages_that_show_an_order_name_the_currency_beside_its_total(customer, path):
    placed = place_order(customer, (ProductFactory(price="7.25"), 2))
    browser = Client()
    browser.force_login(customer.user)

    html = browser.get(path.format(id=placed["id"])).content.decode()

    assert "14.50 CHF" in html and "EUR" not in html
