"""A customer's walk through the pages in a real browser (the machine's Chromium, driven by
Playwright), against a web process, the dispatcher and a worker started as production
starts them: log in, the front door, an order placed through the API, its notification in
the tab, its order page, pending until a worker starts and followed until its side effects
are done, the password changed, and a login with the new one. Each step is asserted on
what the page shows (roles and labels) and kept as a screenshot in the test's tmp dir."""

import re

import pytest
import requests
from rest_framework.authtoken.models import Token

from tests.support.clients import PASSWORD
from tests.support.processes import DispatcherProcess, WorkerProcess
from tests.support.tab import tab_items, tab_live_over

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a-new-browser-password-2"
DESKTOP = {"width": 1280, "height": 800}


def placed_through_the_api(base: str, user, product, quantity: int) -> dict:
    """A cart, its line and the checkout, over HTTP with the user's API token."""
    api = requests.Session()
    api.headers["Authorization"] = f"Token {Token.objects.get_or_create(user=user)[0].key}"
    cart = api.post(f"{base}/api/carts/", json={}, timeout=10).json()["id"]
    line = {"product_id": product.pk, "quantity": quantity}
    assert api.post(f"{base}/api/carts/{cart}/items/", json=line, timeout=10).status_code == 201
    order = api.post(f"{base}/api/orders/", json={"cart_id": cart}, timeout=10)
    assert order.status_code == 201, order.text
    return order.json()


def narrow(page) -> None:
    """A phone's width (390 px): the page fits it, nothing to scroll sideways."""
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


class Walk:
    """One browser page walking the site; `shot(step)` keeps what it shows, numbered."""

    def __init__(self, page, base: str, shots_dir):
        self.page, self.base, self.shots_dir, self.taken = page, base, shots_dir, 0
        self.nav = page.get_by_role("navigation", name="Site")

    def shot(self, step: str, *, phone_too: bool = False) -> None:
        self.taken += 1
        path = self.shots_dir / f"{self.taken}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        if phone_too:
            narrow(self.page)
            self.page.screenshot(path=str(path.with_stem(path.stem + "-390px")), full_page=True)
            self.page.set_viewport_size(DESKTOP)

    def log_in(self, username: str, password: str) -> None:
        from playwright.sync_api import expect

        expect(self.page.get_by_role("heading", name="Log in")).to_be_visible()
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(f"{self.base}/")


def the_front_door_of_a_new_customer(walk: Walk, shopper) -> None:
    """Log in (the front door sends an anonymous visitor there, and back); the front door:
    no order yet, the navigation to the person's pages."""
    from playwright.sync_api import expect

    page = walk.page
    page.goto(f"{walk.base}/")
    expect(page.get_by_role("link", name="Sign up").first).to_be_visible()
    walk.shot("login")
    walk.log_in(shopper.username, PASSWORD)
    expect(page.get_by_role("heading", name=f"Hello, {shopper.username}")).to_be_visible()
    expect(page.get_by_text("No orders yet.")).to_be_visible()
    for name in ("Orders", "Notifications", "Password"):
        expect(walk.nav.get_by_role("link", name=name)).to_be_visible()
    expect(walk.nav.get_by_role("button", name="Log out")).to_be_visible()
    expect(walk.nav.get_by_role("link", name="Admin")).to_have_count(0)  # staff only
    walk.shot("front-door", phone_too=True)


def the_notification_to_its_order_page(walk: Walk, order: dict) -> None:
    """The order's notification in the tab, its link to the order page; there its lines
    and total, and its side effects pending (no worker runs yet), followed."""
    from playwright.sync_api import expect

    page, name = walk.page, f"Order #{order['id']}"
    walk.nav.get_by_role("link", name="Notifications").click()
    tab_live_over(page, "websocket")
    item = tab_items(page, f"{name} confirmed")
    expect(item).to_be_visible(timeout=10_000)
    walk.shot("notification")
    item.get_by_role("link", name=re.compile(f"{name} confirmed")).click()
    page.wait_for_url(f"{walk.base}/account/orders/{order['id']}/")

    expect(page.get_by_role("heading", name=name)).to_be_visible()
    lines = page.get_by_role("table", name="Lines")
    expect(lines.get_by_role("row", name=re.compile("Desk lamp"))).to_contain_text("25.00")
    expect(lines.get_by_role("row", name=re.compile("^Total"))).to_contain_text("25.00")
    expect(side_effects(page)).to_have_text([re.compile(": pending$")] * 3)
    expect(progress(page)).to_have_text("Following them as they happen…")
    walk.shot("order-pending")


def its_side_effects_turn_done_on_the_page(walk: Walk) -> None:
    """No reload: the page follows the order API until every side effect is done."""
    from playwright.sync_api import expect

    expect(progress(walk.page)).to_have_text("All done.", timeout=60_000)
    for label in ("Confirmation email", "Inventory", "Analytics"):
        expect(side_effects(walk.page).filter(has_text=label)).to_have_text(f"{label}: done")
    walk.shot("order-done", phone_too=True)


def side_effects(page):
    return page.get_by_role("list", name="Side effects").get_by_role("listitem")


def progress(page):
    return page.get_by_role("status", name="Side effects progress")


def a_new_password_then_in_again_with_it(walk: Walk, shopper, order: dict) -> None:
    """The password changed with Django's own form in the site's frame; out, and in again
    with the new one: the front door, the order on it."""
    from playwright.sync_api import expect

    page = walk.page
    walk.nav.get_by_role("link", name="Password").click()
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label(re.compile(r"^New password:?$")).fill(NEW_PASSWORD)
    page.get_by_label(re.compile(r"^New password confirmation:?$")).fill(NEW_PASSWORD)
    walk.shot("password-form")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    walk.shot("password-changed")

    walk.nav.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{walk.base}/account/login/")
    walk.log_in(shopper.username, NEW_PASSWORD)
    expect(page.get_by_role("link", name=f"Order #{order['id']}", exact=True)).to_be_visible()
    walk.shot("signed-in-again")


def test_a_customer_walks_from_login_to_an_order_done_and_a_new_password(
    web, web_env, browser, shopper, tmp_path
):
    from tests.factories import ProductFactory

    lamp = ProductFactory(name="Desk lamp", price="12.50", on_hand=50)
    process = web()
    page = browser.new_page(viewport=DESKTOP)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    walk = Walk(page, process.base, tmp_path)

    the_front_door_of_a_new_customer(walk, shopper)
    order = placed_through_the_api(process.base, shopper, lamp, 2)
    the_notification_to_its_order_page(walk, order)
    dispatcher = DispatcherProcess(web_env, tmp_path / "dispatcher.log").start()
    worker = WorkerProcess(web_env, tmp_path / "worker.log", concurrency=1).start()
    try:
        its_side_effects_turn_done_on_the_page(walk)
    finally:
        worker.stop()
        dispatcher.stop()
    a_new_password_then_in_again_with_it(walk, shopper, order)
    assert errors == []
