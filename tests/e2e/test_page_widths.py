"""The notifications tab (frontend/) and the staff analytics page in a real browser (the
machine's Chromium, driven by Playwright) at a phone's width (390 px) and a laptop's
(1280 px): the page never scrolls sideways, every button stays inside the card it is
drawn in, and the analytics table's last column can be read (a table too wide for the
phone scrolls inside its own box, not the page)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics_app.models import DailySummary
from analytics_app.services import analytics_record
from tests.support.clients import PASSWORD, browser_log_in
from tests.support.layout import box_inside, buttons_outside_their_cards, page_scroll_width
from tests.support.notifications import notify
from tests.support.orders import place_order
from tests.support.tab import TAB, tab_built, tab_items

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = {"phone": (390, 844), "laptop": (1280, 800)}


@pytest.fixture(params=WIDTHS, ids=str)
def viewport(request) -> dict:
    width, height = WIDTHS[request.param]
    return {"width": width, "height": height}


def opened(browser, viewport, url: str, user) -> tuple:
    """A page of `viewport`'s size where `user` logged in and landed on `url`, and the
    list of the errors its scripts raise."""
    page = browser.new_context(viewport=viewport).new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    browser_log_in(page, url, username=user.username, password=PASSWORD)
    return page, errors


def assert_readable(page, viewport) -> None:
    scroll_width, width = page_scroll_width(page)
    assert width == viewport["width"]
    assert scroll_width <= width, f"the page scrolls sideways: {scroll_width} px in {width}"
    assert buttons_outside_their_cards(page) == []


def test_the_notifications_tab_fits_the_width(web, browser, shopper, product, viewport):
    order_id = place_order(shopper.customer, (product, 2))["id"]
    notify(
        shopper,
        "New sign-in to your account: Mobile Safari on iOS, from 203.0.113.77, at"
        " 2026-11-27 08:15 UTC. Not you? Change your password.",
        kind="new_device_login",
        link="/api/auth/logins/",
    )
    read = notify(shopper, "Reply about order #1: it ships on Monday, in two parcels.")
    read.is_read = True
    read.save()
    process = web()

    tab_built()
    page, errors = opened(browser, viewport, f"{process.base}{TAB}", shopper)
    tab_items(page, f"Order #{order_id} confirmed").wait_for(timeout=10_000)
    page.get_by_label("Messages: Web Push").wait_for(timeout=10_000)
    assert tab_items(page).count() == 3

    assert_readable(page, viewport)
    assert errors == []


def test_the_analytics_page_fits_the_width_and_its_tables_last_column_is_read(
    web, browser, person, customer, viewport, noon_yesterday
):
    today = timezone.localdate()
    for offset in range(1, 30):
        DailySummary.objects.create(
            day=today - timedelta(days=offset),
            orders=120 + offset,
            units=350 + offset,
            revenue=Decimal("18423.50") + offset,
            side_effect_lag_p50_ms=180,
            side_effect_lag_p95_ms=1450,
            side_effect_lag_p99_ms=12800,
            side_effect_lag_orders=120,
            side_effects_failed=2,
            side_effects_pending=0,
        )
    analytics_record(order_id=place_order(customer)["id"])
    staff = person(is_staff=True)
    process = web(**noon_yesterday)

    page, errors = opened(browser, viewport, f"{process.base}/account/analytics/", staff)
    assert page.locator("#daily-numbers tbody tr").count() == 30

    assert_readable(page, viewport)
    box = page.locator("section.numbers")
    last = page.locator("#daily-numbers thead th").last
    assert last.inner_text() == "Pending"
    if viewport["width"] >= 1280:  # room for the whole table: nothing to scroll
        assert box.evaluate("el => el.scrollWidth <= el.clientWidth")
    last.scroll_into_view_if_needed()  # a phone scrolls the table's box, not the page
    assert box_inside(last.bounding_box(), box.bounding_box())
    cell = page.locator("#daily-numbers tbody tr").last.locator("td").last
    assert box_inside(cell.bounding_box(), box.bounding_box())
    assert page_scroll_width(page)[0] <= viewport["width"]
    assert errors == []
