"""The front door, `/` (config.pages): a signed-in person's latest orders and notifications,
each a link to its page; for staff the analytics, the admin and Flower (when its address
is set); anyone else is sent to log in and back."""

import re

import pytest
from django.test import Client

from tests.factories import PASSWORD, UserFactory
from tests.support.notifications import notify
from tests.support.orders import place_order

pytestmark = pytest.mark.django_db


def front_door(user) -> str:
    browser = Client()
    browser.force_login(user)
    response = browser.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_anonymous_visitors_are_sent_to_log_in_and_back():
    response = Client().get("/")

    assert response.status_code == 302
    assert response["Location"] == "/account/login/?next=/"


def test_logging_in_without_a_next_page_lands_on_the_front_door(user):
    response = Client().post("/account/login/", {"username": user.username, "password": PASSWORD})

    assert response.status_code == 302 and response["Location"] == "/"


def test_it_links_the_persons_latest_five_orders_and_all_of_them(customer):
    orders = [place_order(customer)["id"] for _ in range(6)]
    place_order(UserFactory().customer)  # someone else's

    html = front_door(customer.user)

    linked = [int(n) for n in re.findall(r'<a href="/account/orders/(\d+)/">Order #\1</a>', html)]
    assert linked == orders[:0:-1]  # the newest five, newest first
    assert '<a href="/account/orders/">All your orders</a>' in html


def test_without_orders_it_says_so(user):
    assert "No orders yet." in front_door(user)


def test_it_shows_the_unread_count_and_latest_notifications_linked_to_their_pages(customer):
    order_id = place_order(customer)["id"]
    notify(customer.user, "Something without a page.")

    html = front_door(customer.user)

    assert "<p>2 unread.</p>" in html
    assert f'<a href="/account/orders/{order_id}/">Order #{order_id} confirmed' in html
    assert "<strong>New:</strong> Something without a page.</li>" in html
    assert '<a href="/account/notifications/">All notifications and their settings</a>' in html


def test_a_customer_sees_no_staff_tools(user, settings):
    settings.SHOPFLOW_FLOWER_URL = "https://flower.example.com/"

    html = front_door(user)

    assert "For staff" not in html
    assert "/account/analytics/" not in html and "/admin/" not in html
    assert "flower.example.com" not in html


def test_staff_get_the_analytics_the_admin_and_flower_when_its_address_is_set(settings):
    staff = UserFactory(is_staff=True)
    settings.SHOPFLOW_FLOWER_URL = ""
    html = front_door(staff)
    assert '<li><a href="/account/analytics/">Analytics</a>: orders' in html
    assert '<li><a href="/admin/">Admin</a>: products' in html
    assert "Flower" not in html

    settings.SHOPFLOW_FLOWER_URL = "https://flower.example.com/"
    assert '<a href="https://flower.example.com/">Flower</a>' in front_door(staff)
