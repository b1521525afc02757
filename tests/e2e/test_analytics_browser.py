"""The analytics page in a real browser (the machine's Chromium, driven by Playwright)
against a web process served as in production: a staff user logs in, and the orders
chart, as the browser paints it, shows the days' numbers: the rollups' for the days
before, and today's orders as soon as they are recorded, without waiting for the hour."""

from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from analytics_app.models import DailySummary
from analytics_app.services import analytics_record
from tests.support.clients import PASSWORD, browser_log_in
from tests.support.orders import place_order

pytestmark = pytest.mark.django_db(transaction=True)

ORDERS_BLUE = (0x2E, 0x6F, 0xD8)  # the orders bars' colour (analytics_app/page.html)
DAYS = 7


@pytest.fixture
def staff(person):
    return person(is_staff=True)


def bar_columns(image: Image.Image) -> dict[int, int]:
    """{x: how many pixels of the column are the bars' blue}, for the columns that have any."""
    rgb = image.convert("RGB")
    columns = {}
    for x in range(rgb.width):
        count = sum(
            all(abs(a - b) <= 12 for a, b in zip(rgb.getpixel((x, y)), ORDERS_BLUE, strict=True))
            for y in range(rgb.height)
        )
        if count:
            columns[x] = count
    return columns


def runs(xs) -> list[list[int]]:
    """Consecutive x values grouped: one group per bar."""
    groups: list[list[int]] = []
    for x in sorted(xs):
        if groups and x == groups[-1][-1] + 1:
            groups[-1].append(x)
        else:
            groups.append([x])
    return groups


def orders_two_days_ago_none_yesterday_four_today(customer) -> None:
    today = timezone.localdate()
    # Two days ago 2 orders, yesterday none (rolled up); the days before have no summary.
    for offset, orders in ((2, 2), (1, 0)):
        DailySummary.objects.create(day=today - timedelta(days=offset), orders=orders)
    # Today 4 orders placed, recorded as the analytics task does, and no rollup since.
    for _ in range(4):
        analytics_record(order_id=place_order(customer)["id"])


def test_staff_sees_the_orders_chart_with_bars_as_tall_as_the_days_orders(
    web, browser, staff, customer, tmp_path, noon_yesterday
):
    orders_two_days_ago_none_yesterday_four_today(customer)
    today = timezone.localdate()
    process = web(**noon_yesterday)
    page = browser.new_page()
    requests, errors = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))

    url = f"{process.base}/account/analytics/?days={DAYS}"
    browser_log_in(page, url, username=staff.username, password=PASSWORD)
    assert page.title() == "Analytics · Shopflow"

    plot = page.locator("#orders-chart ol")  # a column a day, bars from its foot up
    shot = tmp_path / "orders-chart.png"
    plot.screenshot(path=str(shot))
    image = Image.open(shot)
    columns = bar_columns(image)
    bars = runs(columns)

    # Two bars, the older day's on the left; none for the day with 0 orders.
    assert len(bars) == 2, f"bars at {[(b[0], b[-1]) for b in bars]}; see {shot}"
    two, four = (columns[bar[len(bar) // 2]] for bar in bars)
    assert abs(four - 2 * two) <= 2, (two, four)
    box = plot.locator("li").first.bounding_box()  # a day's column, in CSS pixels
    scale = image.width / plot.bounding_box()["width"]  # screenshot pixels to CSS pixels
    assert abs(four - box["height"] * scale) <= 2  # 4 orders: the full height
    centres = [(bar[0] + bar[-1]) / 2 for bar in bars]
    slot = box["width"] * scale  # of the 7 days asked, the shop has had 3
    assert plot.locator("li").count() == 3
    assert abs(centres[1] - centres[0] - 2 * slot) <= 2  # a day apart: yesterday between
    yesterday = round((centres[0] + centres[1]) / 2)
    assert all(columns.get(x, 0) == 0 for x in range(yesterday - 3, yesterday + 4))

    bars = page.locator("#orders-chart .bar")
    titles = [bars.nth(n).get_attribute("title") for n in range(bars.count())]
    assert titles == [
        f"{(today - timedelta(days=2)).isoformat()}: 2 orders",
        f"{today.isoformat()}: 4 orders",
    ]
    assert bars.all_text_contents() == titles  # for screen readers, and not painted:
    hidden = page.locator("#orders-chart .bar .visually-hidden")
    assert all(hidden.nth(n).bounding_box()["width"] <= 1 for n in range(hidden.count()))
    assert all(url.startswith(process.base) for url in requests)  # nothing from elsewhere
    assert errors == []
