"""The React notifications tab (frontend/) in a real browser (the machine's Chromium,
driven by Playwright) against web processes started as production starts them (gunicorn and
uvicorn; development settings, so static files come from frontend/dist): it shows what came
before, what arrives live (from a request or a worker), falls back when WebSockets or the
stream are refused, and resumes after a crash of the web process without losing any."""

import re

import pytest

from notifications.models import Notification
from tests.factories import ProductFactory, cart_with
from tests.support.clients import client_for
from tests.support.notifications import notify
from tests.support.orders import place_order
from tests.support.processes import DispatcherProcess, WorkerProcess
from tests.support.tab import (
    live_status,
    stream_blocked,
    tab_badge,
    tab_items,
    tab_live_over,
    tab_opened,
    tab_title_becomes,
    websockets_blocked,
)

pytestmark = pytest.mark.django_db(transaction=True)

TITLE = "Notifications · Shopflow"


def test_an_order_placed_elsewhere_appears_live_and_marking_it_read_drops_the_count(
    web, browser, shopper, product
):
    process = web()
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    tab_opened(page, process.base, shopper)
    tab_live_over(page, "websocket")
    assert live_status(page).inner_text() == "live (WebSocket)"
    assert page.title() == TITLE
    page.get_by_text("Nothing yet").wait_for()
    assert tab_items(page).count() == 0

    order_id = place_order(shopper.customer, (product, 2))["id"]  # another session: the API
    item = tab_items(page, f"Order #{order_id} confirmed")
    item.wait_for(timeout=10_000)  # no reload: it came over the socket
    mark = item.get_by_role("button", name="Mark read")
    assert mark.is_enabled()  # unread
    tab_title_becomes(page, f"(1) {TITLE}")
    assert tab_badge(page) == 1

    mark.click()
    page.wait_for_function(f"document.title === '{TITLE}'", timeout=5_000)
    assert tab_badge(page) == 0
    assert Notification.objects.get(recipient=shopper).is_read

    place_order(shopper.customer, (product, 1))  # a second one, then "mark all read"
    page.wait_for_function("document.title.startsWith('(1) ')", timeout=10_000)
    page.get_by_role("button", name="Mark all read").click()
    page.wait_for_function(f"document.title === '{TITLE}'", timeout=5_000)
    assert not Notification.objects.filter(recipient=shopper, is_read=False).exists()
    assert errors == []


def test_a_low_stock_alert_a_worker_commits_shows_up_live_on_a_staff_tab(
    web, web_env, browser, person, tmp_path
):
    process, staff, customer = web(), person(is_staff=True), person()
    page = browser.new_page()
    tab_opened(page, process.base, staff)
    tab_live_over(page, "websocket")
    dispatcher = DispatcherProcess(web_env, tmp_path / "dispatcher.log").start()
    worker = WorkerProcess(web_env, tmp_path / "worker.log", concurrency=1).start()
    try:
        # Stock falls below its threshold: the worker's inventory task alerts staff.
        lamp = ProductFactory(on_hand=6, low_stock_threshold=5, name="Desk lamp")
        place_order(customer.customer, (lamp, 3))
        item = tab_items(page, "Desk lamp")
        item.wait_for(timeout=30_000)
    finally:
        worker.stop()
        dispatcher.stop()
    low = Notification.objects.get(recipient=staff, kind="low_stock")
    assert item.get_by_role("link").get_attribute("href") == low.link
    tab_title_becomes(page, f"(1) {TITLE}")


def test_after_the_web_process_crashes_the_tab_reconnects_and_gets_what_it_missed(
    web, browser, shopper
):
    """SIGKILL, notifications committed while it is down, a new process on the same port:
    the tab's next WebSocket names the last id it had and the server sends the rest. The
    list API is refused from the crash on, so nothing can come by polling."""
    process = web()
    page = browser.new_page()
    sockets = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    tab_opened(page, process.base, shopper)
    tab_live_over(page, "websocket")
    seen = notify(shopper, "Before the crash.")
    tab_items(page, "Before the crash.").wait_for(timeout=10_000)

    page.route(re.compile(r".*/api/notifications/$"), lambda route: route.abort())
    process.kill()
    tab_live_over(page, "polling")
    missed = [notify(shopper, "While it was down."), notify(shopper, "Also while down.")]
    web(port=process.port)

    for row in missed:
        item = tab_items(page, row.message)
        item.wait_for(timeout=45_000)  # the reconnection's backoff: 2, 4, 8, 16 s
        assert item.inner_text().startswith(row.message)
    tab_live_over(page, "websocket")
    assert sockets[-1].endswith(f"/ws/notifications/?last_id={seen.pk}")
    assert tab_items(page).count() == 3
    tab_title_becomes(page, f"(3) {TITLE}")


def test_the_tab_shows_what_came_before_it_was_opened(web, browser, shopper, product):
    process = web()
    place_order(shopper.customer, (product, 1))
    page = browser.new_page()
    tab_opened(page, process.base, shopper)
    tab_items(page).first.wait_for()
    assert re.match(r"Order #\d+ confirmed", tab_items(page).first.get_by_role("link").inner_text())
    tab_title_becomes(page, f"(1) {TITLE}")


def test_with_websockets_blocked_the_tab_falls_back_to_server_sent_events(
    web, browser, shopper, product
):
    process = web()
    page = browser.new_page()
    websockets_blocked(page)
    tab_opened(page, process.base, shopper)
    tab_live_over(page, "sse")
    assert live_status(page).inner_text() == "live (Server-Sent Events)"
    place_order(shopper.customer, (product, 1))
    tab_items(page).first.wait_for(timeout=10_000)  # over the stream


def test_with_websockets_and_the_stream_blocked_the_tab_polls(web, browser, shopper, product):
    process = web()
    page = browser.new_page()
    websockets_blocked(page)
    stream_blocked(page)
    page.clock.install()
    tab_opened(page, process.base, shopper)
    # Both refused, so polling has started (a poll started after run_for below would
    # come 10 s later, as late as the wait).
    tab_live_over(page, "polling")
    assert "checking every 10 s" in live_status(page).inner_text()
    place_order(shopper.customer, (product, 1))
    page.clock.run_for(11_000)  # past the 10 s poll
    tab_items(page).first.wait_for(timeout=10_000)
    assert page.title().startswith("(1) ")


def test_the_sender_sees_on_the_tab_that_the_other_side_read_their_message(
    web, browser, shopper, person, product
):
    process, staff = web(), person(is_staff=True)
    cart = cart_with(shopper.customer, (product, 1))
    order_id = (
        client_for(shopper)
        .post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
        .json()["id"]
    )
    path = f"/api/orders/{order_id}/messages/"
    client_for(staff).post(path, {"body": "Shipped today."}, format="json")

    page = browser.new_page()
    tab_opened(page, process.base, staff)
    tab_live_over(page, "websocket")
    assert client_for(shopper).post(path + "read/").json() == {"marked": 1}
    receipt = page.get_by_role("status").filter(has_text=f"about order #{order_id},")
    receipt.wait_for(timeout=10_000)
    assert receipt.inner_text().startswith(f"Read: your message about order #{order_id}")
