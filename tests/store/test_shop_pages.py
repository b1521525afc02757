"""The shopper's pages without JavaScript: the catalog (anyone), the cart (add, change a
quantity, remove, the total), its checkout landing on the order page; a visitor sent to
sign in and back; every refusal said on the page in words, nothing half-done."""

import re

import pytest
from django.test import Client

from store.models import Cart, Order
from tests.factories import ProductFactory, UserFactory, cart_with

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_too]

CATALOG, CART = "/shop/", "/shop/cart/"


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def add(browser, product, quantity=1, **more):
    return browser.post(
        "/shop/cart/add/", {"product_id": product.pk, "quantity": quantity, **more}, follow=True
    )


def text(response) -> str:
    return response.content.decode()


def cart_id(response) -> str:
    return re.search(r'name="cart_id" value="([0-9a-f-]+)"', text(response))[1]


def test_anyone_sees_the_catalog_with_prices_and_availability_and_a_visitor_signs_in_first():
    ProductFactory(name="Enamel mug", price="14.90", on_hand=3)
    ProductFactory(name="Sold-out tee", on_hand=0)
    visitor = Client()

    page = text(visitor.get(CATALOG))
    assert "Enamel mug" in page and "14.90 EUR" in page and "out of stock" in page
    assert 'href="/account/login/?next=/shop/"' in page

    sent = visitor.post("/shop/cart/add/", {"product_id": 1, "quantity": 1})
    assert sent.status_code == 302 and sent["Location"] == "/account/login/?next=/shop/"
    assert Cart.objects.count() == 0


def test_the_catalog_comes_in_pages_and_a_page_out_of_range_shows_the_last():
    from store.pages import PER_PAGE

    for n in range(PER_PAGE + 1):
        ProductFactory(name=f"Mug {n:02}")

    def page(query=""):
        return text(Client().get(CATALOG + query))

    first, second = page(), page("?page=2")
    assert "Mug 00" in first and f"Mug {PER_PAGE:02}" not in first
    assert 'href="?page=2">Next' in first and "Page 1 of 2" in first
    assert f"Mug {PER_PAGE:02}" in second and "Mug 00" not in second
    assert 'href="?page=1">Previous' in second
    assert "Page 2 of 2" in page("?page=99") and "Page 1 of 2" in page("?page=x")  # get_page


def test_a_shopper_fills_changes_and_checks_out_a_cart_and_lands_on_the_order(customer):
    mug = ProductFactory(name="Enamel mug", price="14.90", on_hand=10)
    tee = ProductFactory(name="Organic tee", price="24.00", on_hand=10)
    browser = signed_in(customer.user)

    assert "Added 2 x Enamel mug to your cart." in text(add(browser, mug, 2))
    shown = add(browser, tee, 1)
    assert "53.80 EUR" in text(shown)  # 2 x 14.90 + 24.00
    [tee_line] = Cart.objects.get().items.filter(product=tee)
    changed = browser.post(f"/shop/cart/lines/{tee_line.pk}/", {"quantity": 3}, follow=True)
    assert "101.80 EUR" in text(changed)
    [mug_line] = Cart.objects.get().items.filter(product=mug)
    removed = browser.post(f"/shop/cart/lines/{mug_line.pk}/", {"remove": "1"}, follow=True)
    assert "Enamel mug removed from your cart." in text(removed) and "72.00 EUR" in text(removed)

    placed = browser.post("/shop/cart/checkout/", {"cart_id": cart_id(removed)}, follow=True)

    order = Order.objects.get()
    assert placed.redirect_chain[-1][0] == f"/account/orders/{order.pk}/"
    assert f"order #{order.pk} is placed" in text(placed) and "72.00 EUR" in text(placed)
    assert "Your cart is empty." in text(browser.get(CART))


def test_a_cart_checked_out_twice_from_two_tabs_makes_one_order(customer):
    cart = cart_with(customer, (ProductFactory(on_hand=5), 1))
    first, second = signed_in(customer.user), signed_in(customer.user)

    one = first.post("/shop/cart/checkout/", {"cart_id": str(cart.pk)}, follow=True)
    two = second.post("/shop/cart/checkout/", {"cart_id": str(cart.pk)}, follow=True)

    order = Order.objects.get()
    assert one.redirect_chain[-1][0] == two.redirect_chain[-1][0] == f"/account/orders/{order.pk}/"


def test_refusals_are_said_in_words_and_change_nothing(customer):
    mug = ProductFactory(name="Enamel mug", on_hand=2)
    browser = signed_in(customer.user)
    cart = cart_with(customer, (mug, 3))

    short = text(browser.post("/shop/cart/checkout/", {"cart_id": str(cart.pk)}, follow=True))
    assert "Not enough Enamel mug in stock: 2 left, 3 in your cart." in short
    assert Order.objects.count() == 0

    empty = cart_with(customer)
    said = text(browser.post("/shop/cart/checkout/", {"cart_id": str(empty.pk)}, follow=True))
    assert "The cart is empty." in said and Order.objects.count() == 0
    for junk in ("not-a-cart", str(cart_with(UserFactory().customer).pk)):
        gone = text(browser.post("/shop/cart/checkout/", {"cart_id": junk}, follow=True))
        assert "That cart is gone" in gone
    for quantity in ("0", "many", "100001"):
        assert "A quantity is a whole number" in text(add(browser, mug, quantity))
    assert "Unknown product." in text(
        browser.post("/shop/cart/add/", {"product_id": "x", "quantity": 1}, follow=True)
    )
    assert '"detail"' not in short and Order.objects.count() == 0  # words, never JSON


@pytest.mark.parametrize(
    ("form", "back_to"),
    [
        ("/shop/cart/checkout/", "/shop/cart/"),
        ("/shop/cart/lines/1/", "/shop/cart/"),
        ("/account/orders/7/cancel/", "/account/orders/7/"),
        ("/account/orders/7/messages/", "/account/orders/7/"),
    ],
)
def test_a_form_sent_signed_out_asks_to_log_in_and_comes_back_to_its_page(form, back_to):
    sent = Client().post(form, {})
    assert sent.status_code == 302 and sent["Location"] == f"/account/login/?next={back_to}"


def test_an_add_refused_makes_no_cart():
    customer = UserFactory().customer
    browser = signed_in(customer.user)
    retired = ProductFactory(is_active=False)

    for product_id in (retired.pk, 999_999, "x"):
        sent = browser.post("/shop/cart/add/", {"product_id": product_id, "quantity": 1})
        assert "Unknown product." in text(browser.get(sent.url))
    assert not Cart.objects.filter(customer=customer).exists()
