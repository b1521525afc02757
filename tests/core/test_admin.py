import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from store.models import Product
from tests.factories import ProductFactory, cart_with
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


def registered_models() -> list:
    return [model for model in apps.get_models() if admin.site.is_registered(model)]


def test_every_registered_model_has_a_working_changelist_with_search(staff_client, customer):
    cart_with(customer, (ProductFactory(), 2))
    for model in registered_models():
        model_admin = admin.site.get_model_admin(model)
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        query = "?q=x" if model_admin.search_fields else ""
        response = staff_client.get(url + query)
        assert response.status_code == 200, url


@pytest.mark.parametrize(
    "label",
    [
        "store.product",
        "store.customer",
        "store.cart",
        "store.order",
        "store.stockmovement",
        "store.pricechange",
        "worker.job",
        "worker.deadletter",
        "email_app.sentemail",
        "analytics_app.analyticsevent",
        "django_celery_results.taskresult",
        "django_celery_beat.periodictask",
    ],
)
def test_operators_find_each_model_in_the_admin(label):
    assert label in {m._meta.label_lower for m in registered_models()}


def test_admin_needs_a_staff_login(client):
    response = Client().get("/admin/store/order/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_record_is_read_in_the_admin_and_a_page_posted_back_changes_nothing(staff_client):
    endpoint = Endpoint.objects.create(
        url="https://hooks.example.com/in", events=["order.created"], secret="whsec_sekrit"
    )
    page_url = f"/admin/webhooks/endpoint/{endpoint.pk}/change/"

    page = staff_client.get(page_url).content.decode()
    posted = staff_client.post(page_url, {"url": "https://elsewhere.example.com/"})

    assert "https://hooks.example.com/in" in page and 'name="_save"' not in page
    assert "whsec_sekrit" not in page  # a field in `exclude` is not shown at all
    assert posted.status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/in"
    assert staff_client.get("/admin/webhooks/endpoint/add/").status_code == 403


def test_order_page_shows_items_and_side_effects_with_a_link_to_their_jobs(
    staff_client, client, customer
):
    product = ProductFactory(name="Inline Lamp")
    order_id = client.post(
        "/api/orders/", {"cart_id": str(cart_with(customer, (product, 1)).pk)}, format="json"
    ).json()["id"]
    page = staff_client.get(f"/admin/store/order/{order_id}/change/").content.decode()
    assert "Inline Lamp" in page and "confirmation_email: pending" in page
    jobs = staff_client.get(f"/admin/worker/job/?key__exact={order_id}").content.decode()
    assert jobs.count("/admin/worker/job/") >= 3 and "inventory" in jobs


def test_the_orders_filters_are_titled_for_what_they_filter(staff_client, client, customer):
    cart = cart_with(customer, (ProductFactory(), 1))
    order_id = client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json").json()["id"]

    html = staff_client.get("/admin/store/order/").content.decode()

    titles = re.findall(r'<details data-filter-title="([^"]*)"', html)
    assert titles == ["order status", "duplicate of", "placed at", "side effect status"]
    shown = [" ".join(text.split()) for text in re.findall(r"<summary>(.*?)</summary>", html, re.S)]
    assert "By order status" in shown and "By side effect status" in shown
    assert "By status" not in shown
    # Each still filters its own field.
    pending = staff_client.get("/admin/store/order/?side_effect=pending")
    assert f"/admin/store/order/{order_id}/change/" in pending.content.decode()
    failed = staff_client.get("/admin/store/order/?side_effect=failed")
    assert f"/admin/store/order/{order_id}/change/" not in failed.content.decode()
    placed = staff_client.get("/admin/store/order/?status__exact=placed")
    assert f"/admin/store/order/{order_id}/change/" in placed.content.decode()


def product_form(product, **changes) -> dict:
    data = {
        "sku": product.sku,
        "name": product.name,
        "price": str(product.price),
        "low_stock_threshold": product.low_stock_threshold,
        "is_active": "on",
        "add_stock": "",
    }
    data.update(changes)
    return data


def test_saving_a_product_page_opened_before_a_checkout_keeps_the_reservation(
    staff_client, client, customer
):
    product = ProductFactory(on_hand=10, name="Old name")
    stale_form = product_form(product, name="New name")  # the operator opened the page
    client.post(
        "/api/orders/", {"cart_id": str(cart_with(customer, (product, 4)).pk)}, format="json"
    )

    response = staff_client.post(f"/admin/store/product/{product.pk}/change/", stale_form)

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.on_hand, product.reserved) == ("New name", 10, 4)


def test_a_new_products_page_sets_its_stock_and_has_nothing_to_add_to(staff_client):
    page = staff_client.get("/admin/store/product/add/").content.decode()

    assert 'name="on_hand"' in page and 'name="add_stock"' not in page


def test_add_stock_adds_to_what_is_on_hand_now(staff_client):
    product = ProductFactory(on_hand=10)
    form = product_form(product, add_stock="25")
    Product.objects.filter(pk=product.pk).update(on_hand=7)  # a sale applied meanwhile

    staff_client.post(f"/admin/store/product/{product.pk}/change/", form)

    product.refresh_from_db()
    assert product.on_hand == 32


def test_a_correction_below_the_reserved_units_is_refused(staff_client):
    product = ProductFactory(on_hand=10, reserved=8)

    response = staff_client.post(
        f"/admin/store/product/{product.pk}/change/",
        product_form(product, add_stock="-5"),
        follow=True,
    )

    product.refresh_from_db()
    assert product.on_hand == 10
    assert "Stock not changed" in response.content.decode()
