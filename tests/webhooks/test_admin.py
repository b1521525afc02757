"""The admin's webhooks: an endpoint deleted there goes with its deliveries, as through the
API (webhooks.services.endpoints.endpoint_delete); a failed delivery's staff notification
leads there."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from notifications.models import Notification
from notifications.services.inbox import webhook_failed_notify
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.services.deliveries import endpoint_test_send
from webhooks.signatures import secret_new

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    superuser = get_user_model().objects.create_superuser("root", password="a long password 1")
    client = Client()
    client.force_login(superuser)
    return client


def endpoint_with_a_delivery() -> Endpoint:
    endpoint = Endpoint.objects.create(url="https://x/", secret=secret_new())
    delivery = endpoint_test_send(endpoint_id=endpoint.pk)
    Attempt.objects.create(delivery=delivery, status_code=500, error="HTTP 500")
    return endpoint


def test_an_endpoint_deleted_in_the_admin_goes_with_its_deliveries(browser):
    endpoint, kept = endpoint_with_a_delivery(), endpoint_with_a_delivery()

    page = f"/admin/webhooks/endpoint/{endpoint.pk}/delete/"
    assert browser.post(page, {"post": "yes"}).status_code == 302

    assert list(Endpoint.objects.values_list("pk", flat=True)) == [kept.pk]
    assert list(Delivery.objects.values_list("concurrency_key", flat=True)) == [str(kept.pk)]
    assert Attempt.objects.count() == 1


def test_endpoints_deleted_by_the_admins_action_go_with_their_deliveries(browser):
    endpoints = [endpoint_with_a_delivery() for _ in range(2)]

    action = {"action": "delete_selected", "post": "yes"}
    selected = {"_selected_action": [endpoint.pk for endpoint in endpoints]}
    assert browser.post("/admin/webhooks/endpoint/", {**action, **selected}).status_code == 302

    assert not Endpoint.objects.exists()
    assert not Delivery.objects.exists() and not Attempt.objects.exists()


def test_a_failed_deliverys_staff_notification_leads_to_it_in_the_admin(browser):
    endpoint = endpoint_with_a_delivery()
    delivery = Delivery.objects.get()
    webhook_failed_notify(
        endpoint_id=endpoint.pk, url=endpoint.url, delivery_id=delivery.key, reason="HTTP 500"
    )
    [link] = Notification.objects.values_list("link", flat=True).distinct()

    listed = browser.get(link)
    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [delivery]
    page = browser.get(f"/admin/webhooks/delivery/{delivery.pk}/change/")
    assert page.status_code == 200 and "HTTP 500" in page.content.decode()  # its attempt
