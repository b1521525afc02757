"""The admin's Fulfil action on the order list: a page asking each selected order's
tracking number, then each fulfilled (a cancelled one refused, said), as the API does."""

import pytest
from django.test import Client

from store.models import Order
from store.services.lifecycle import order_cancel
from tests.factories import UserFactory
from tests.support.jobs import order_jobs
from tests.support.orders import place_order

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/store/order/"


def test_staff_fulfil_several_orders_each_with_its_tracking_number(customer):
    first, second, cancelled = (place_order(customer)["id"] for _ in range(3))
    order_cancel(order_id=cancelled, user=customer.user)
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    selected = {"action": "fulfil", "_selected_action": [first, second, cancelled]}

    asked = admin.post(CHANGELIST, selected)
    assert asked.status_code == 200
    assert f'name="tracking_{first}"' in asked.content.decode()
    assert Order.objects.filter(status="fulfilled").count() == 0  # nothing before it is applied

    done = admin.post(
        CHANGELIST,
        {**selected, "apply": "1", f"tracking_{first}": "TRK-1", f"tracking_{second}": ""},
        follow=True,
    )

    text = done.content.decode()
    assert "2 order(s) fulfilled." in text
    assert f"Order #{cancelled}: The order is cancelled: it cannot be fulfilled." in text
    shipped = dict(Order.objects.filter(status="fulfilled").values_list("pk", "tracking_number"))
    assert shipped == {first: "TRK-1", second: ""}
    assert order_jobs(first).filter(kind="shipping_email").count() == 1
    assert order_jobs(cancelled).filter(kind="shipping_email").count() == 0


def test_the_status_is_not_edited_in_the_admins_form(customer):
    order_id = place_order(customer)["id"]
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    form = admin.get(f"{CHANGELIST}{order_id}/change/").content.decode()
    assert 'name="status"' not in form and 'name="tracking_number"' not in form
