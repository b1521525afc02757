"""A customer's order pages, /account/orders/ and /account/orders/<id>/: their own orders
only (another's is a 404 page), the lines, the total and each side effect's state, which
the page follows through the order API while any is pending."""

import re

import pytest
from django.test import Client

from tests.factories import OrderFactory, ProductFactory, SideEffectJobFactory, UserFactory
from tests.support.jobs import order_jobs
from tests.support.orders import place_order

pytestmark = pytest.mark.django_db

LIST = "/account/orders/"


def page(order_id: int) -> str:
    return f"/account/orders/{order_id}/"


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def side_effects_all(order_id: int, status: str) -> None:
    order_jobs(order_id).update(status=status)


def test_the_order_page_shows_its_lines_total_and_each_side_effect_with_its_state(customer):
    lamp = ProductFactory(name="Desk lamp", sku="LAMP-1", price="12.50")
    order_id = place_order(customer, (lamp, 2))["id"]
    order_jobs(order_id).filter(kind="inventory").update(status="done")

    response = signed_in(customer.user).get(page(order_id))

    assert response.status_code == 200
    html = response.content.decode()
    assert f"<h1>Order #{order_id}</h1>" in html
    assert "Desk lamp <small>LAMP-1</small>" in html
    line = '<td class="num">12.50 EUR</td><td class="num">2</td><td class="num">25.00 EUR</td>'
    assert line in html
    assert 'Total</th><td class="num">25.00 EUR</td>' in html
    for kind, label, status in [
        ("confirmation_email", "Confirmation email", "pending"),
        ("inventory", "Inventory", "done"),
        ("analytics", "Analytics", "pending"),
    ]:
        assert (
            f'<li data-kind="{kind}">{label}: <span class="state {status}" '
            f'data-status="{status}">{status}</span></li>'
        ) in html


def test_while_a_side_effect_is_pending_the_page_follows_the_order_api_for_two_minutes(customer):
    order_id = place_order(customer)["id"]

    html = signed_in(customer.user).get(page(order_id)).content.decode()

    assert "Following them as they happen" in html
    assert f'const url = "/api/orders/{order_id}/";' in html
    assert "Date.now() + 120000" in html  # bounded


def test_once_every_side_effect_is_done_the_page_says_so_and_asks_nothing(customer):
    order_id = place_order(customer)["id"]
    side_effects_all(order_id, "done")

    html = signed_in(customer.user).get(page(order_id)).content.decode()

    assert "All done." in html
    assert "<script>" not in html


def test_a_failed_side_effect_is_said_and_not_followed(customer):
    order_id = place_order(customer)["id"]
    side_effects_all(order_id, "done")
    order_jobs(order_id).filter(kind="analytics").update(status="failed")

    html = signed_in(customer.user).get(page(order_id)).content.decode()

    assert "Done, but 1 failed; the shop's staff are told." in html
    assert "<script>" not in html


def test_another_persons_order_is_a_not_found_page_as_an_unknown_one_is(customer):
    order_id = place_order(customer, (ProductFactory(name="Desk lamp"), 1))["id"]
    stranger = signed_in(UserFactory())

    for path in (page(order_id), page(order_id + 1000)):
        response = stranger.get(path)
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")
        assert b"<h1>Not found</h1>" in response.content
        assert b"Desk lamp" not in response.content


def test_staff_see_only_their_own_orders_here_too(customer):
    """The admin is where staff see everyone's orders; these pages are a customer's."""
    order_id = place_order(customer)["id"]

    assert signed_in(UserFactory(is_staff=True)).get(page(order_id)).status_code == 404


@pytest.mark.parametrize("path", [LIST, page(1)])
def test_anonymous_visitors_are_sent_to_the_login_page(path):
    response = Client().get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/account/login/?next={path}"


def test_the_list_links_each_of_the_persons_orders_newest_first_and_no_one_elses(customer):
    first, second = place_order(customer)["id"], place_order(customer)["id"]
    side_effects_all(first, "done")
    others = OrderFactory()

    response = signed_in(customer.user).get(LIST)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index(f'href="{page(second)}"') < html.index(f'href="{page(first)}"')
    assert f"Order #{first}</a>" in html and "all done" in html and "3 pending" in html
    assert f'href="{page(others.pk)}"' not in html


def test_the_list_is_paged_twenty_at_a_time(customer):
    orders = [OrderFactory(customer=customer) for _ in range(21)]

    browser = signed_in(customer.user)
    first, second = browser.get(LIST).content.decode(), browser.get(f"{LIST}?page=2")

    assert len(re.findall(r'href="/account/orders/\d+/"', first)) == 20
    assert 'href="?page=2">Older</a>' in first
    assert f'href="{page(orders[0].pk)}"' in second.content.decode()  # the oldest


def test_with_no_orders_the_list_says_how_orders_are_placed(customer):
    html = signed_in(customer.user).get(LIST).content.decode()

    assert "No orders yet." in html and 'href="/shop/"' in html


def test_a_side_effect_not_begun_counts_as_pending(customer):
    """An order with no job of a kind (its receiver failed, or an older kind): pending, as
    the API says."""
    order = OrderFactory(customer=customer)
    SideEffectJobFactory(order=order, kind="analytics", status="done")

    html = signed_in(customer.user).get(page(order.pk)).content.decode()

    assert 'data-status="pending">pending</span>' in html
    assert 'data-status="done">done</span>' in html


def test_the_cancel_button_cancels_the_order_with_csrf_and_the_page_says_so(customer):
    order_id = place_order(customer)["id"]
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(customer.user)
    shown = browser.get(page(order_id)).content.decode()
    assert "Cancel this order" in shown
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', shown)[1]
    cancel = f"/account/orders/{order_id}/cancel/"

    assert browser.post(cancel, {"reason": "Too slow"}).status_code == 403  # no token
    answer = browser.post(cancel, {"reason": "Too slow", "csrfmiddlewaretoken": token}, follow=True)

    text = answer.content.decode()
    assert answer.redirect_chain[-1][0] == page(order_id)
    assert f"Order #{order_id} is cancelled." in text and "Too slow" in text
    assert 'data-order-status="cancelled"' in text and "Cancel this order" not in text
    assert [j.kind for j in order_jobs(order_id).filter(kind="stock_release")] == ["stock_release"]


def test_a_cancel_refused_or_of_another_persons_order_is_said_on_the_page(customer):
    from store.services.lifecycle import order_fulfil

    order_id = place_order(customer)["id"]
    order_fulfil(order_id=order_id, tracking_number="TRK-9")
    browser = signed_in(customer.user)

    refused = browser.post(f"/account/orders/{order_id}/cancel/", follow=True)
    text = refused.content.decode()
    assert "it can no longer be cancelled" in text and "TRK-9" in text
    assert 'data-order-status="fulfilled"' in text
    other = signed_in(UserFactory()).post(f"/account/orders/{order_id}/cancel/")
    assert other.status_code == 404
    too_long = browser.post(
        f"/account/orders/{order_id}/cancel/", {"reason": "x" * 501}, follow=True
    )
    assert "at most 500 characters" in too_long.content.decode()


def test_a_reason_with_a_nul_character_is_refused_in_words(customer):
    order_id = place_order(customer)["id"]
    said = signed_in(customer.user).post(
        f"/account/orders/{order_id}/cancel/", {"reason": "a\x00b"}, follow=True
    )
    assert "Null characters are not allowed." in said.content.decode()
    assert 'data-order-status="placed"' in said.content.decode()
