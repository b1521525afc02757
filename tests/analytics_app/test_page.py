"""The analytics page, /account/analytics/: staff only, session login; the last days'
figures (today's as of now, the days before from the rollup) drawn as three bar charts
in HTML and CSS, with the numbers in a table."""

import re
import xml.etree.ElementTree as ET
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from analytics_app.models import AnalyticsEvent, DailySummary
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGE = "/account/analytics/"


def placed_today(orders: int, *, units: int = 1, revenue: str = "10.00") -> None:
    """`orders` order events of today (what the analytics task records), not rolled up."""
    at = timezone.make_aware(datetime.combine(timezone.localdate(), time(0, 1)))
    AnalyticsEvent.objects.bulk_create(
        AnalyticsEvent(order_id=n, customer_id=1, units=units, revenue=revenue, occurred_at=at)
        for n in range(1, orders + 1)
    )


def logged_in(**user_fields) -> Client:
    browser = Client()
    browser.force_login(UserFactory(**user_fields))
    return browser


def charts_of(html: str) -> dict[str, ET.Element]:
    """The page's chart sections by id, parsed."""
    sections = re.findall(r'<section class="chart-box".*?</section>', html, re.DOTALL)
    return {section.get("id"): section for section in map(ET.fromstring, sections)}


def bars_of(chart: ET.Element) -> list[tuple[int, ET.Element]]:
    """(the day's place, the bar) for each bar, oldest day first."""
    days = chart.findall(".//ol/li")
    return [
        (index, bar)
        for index, day in enumerate(days)
        for bar in day.iter("span")
        if "bar" in bar.get("class").split()
    ]


def bar_titles(chart: ET.Element) -> list[str]:
    """Each bar's title (its tooltip), checked to be the text a screen reader reads too."""
    titles = [bar.get("title") for _, bar in bars_of(chart)]
    assert titles == ["".join(bar.itertext()) for _, bar in bars_of(chart)]
    return titles


def test_anonymous_is_sent_to_the_login_page():
    response = Client().get(PAGE)

    assert response.status_code == 302
    assert response["Location"] == f"/account/login/?next={PAGE}"


def test_a_shopper_is_refused_with_403():
    response = logged_in().get(PAGE)

    assert response.status_code == 403
    assert "staff only" in response.content.decode()
    assert charts_of(response.content.decode()) == {}


def test_staff_sees_three_charts_of_the_last_30_days():
    DailySummary.objects.create(day=timezone.localdate() - timedelta(days=40), orders=1)

    response = logged_in(is_staff=True).get(PAGE)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    charts = charts_of(html)
    assert set(charts) == {"orders-chart", "revenue-chart", "lag-chart"}
    assert all(len(chart.findall(".//ol/li")) == 30 for chart in charts.values())
    assert html.count("<tr><td>") == 30
    assert "<script" not in html and "<svg" not in html  # HTML and CSS: no JavaScript


def test_a_new_shop_shows_no_days_before_its_first_order():
    DailySummary.objects.create(day=timezone.localdate() - timedelta(days=2), orders=3)

    html = logged_in(is_staff=True).get(PAGE).content.decode()

    assert html.count("<tr><td>") == 3  # that day, yesterday and today


def test_a_day_the_rollup_wrote_before_the_first_order_is_not_shown():
    today = timezone.localdate()
    # The hourly rollup does yesterday and today: zeros for yesterday on the first day.
    DailySummary.objects.create(day=today - timedelta(days=1), orders=0)
    placed_today(2)

    html = logged_in(is_staff=True).get(PAGE).content.decode()

    assert html.count("<tr><td>") == 1 and f"<tr><td>{today.isoformat()}</td>" in html
    charts = charts_of(html)
    assert all(len(chart.findall(".//ol/li")) == 1 for chart in charts.values())
    assert bar_titles(charts["orders-chart"]) == [f"{today.isoformat()}: 2 orders"]


def test_todays_orders_show_before_the_rollup_and_its_lag_as_of_now(customer):
    from tests.support.orders import place_order

    order_id = place_order(customer)["id"]
    AnalyticsEvent.objects.create(
        order_id=order_id,
        customer_id=customer.pk,
        units=1,
        revenue="12.50",
        occurred_at=timezone.now(),
    )

    html = logged_in(is_staff=True).get(PAGE).content.decode()

    today = timezone.localdate().isoformat()
    assert bar_titles(charts_of(html)["orders-chart"]) == [f"{today}: 1 orders"]
    # Not rolled up, its side effects not done yet: counted, no lag, three pending.
    assert f"<tr><td>{today}</td><td>1</td><td>1</td><td>12.50 EUR</td>" in html
    assert not DailySummary.objects.exists()
    assert re.search(r"<td>\u2013</td>\s*<td>0</td>\s*<td>0</td><td>3</td></tr>", html), html


@pytest.mark.parametrize("days", ["abc", "0", "-1", "367", "1.5", "", "1e3", "99999999999"])
def test_a_bad_days_is_400(days):
    response = logged_in(is_staff=True).get(PAGE, {"days": days})

    assert response.status_code == 400
    assert "days must be a whole number from 1 to 366" in response.content.decode()


def test_days_choose_how_many_days_and_days_without_a_summary_are_zero():
    today = timezone.localdate()
    placed_today(4)  # 40.00 in all
    DailySummary.objects.create(day=today, orders=99)  # today's figures are as of now
    DailySummary.objects.create(
        day=today - timedelta(days=2),
        orders=2,
        units=2,
        revenue=Decimal("9.99"),
        side_effect_lag_p50_ms=120,
        side_effect_lag_p95_ms=480,
        side_effect_lag_p99_ms=900,
        side_effect_lag_orders=2,
    )
    DailySummary.objects.create(day=today - timedelta(days=9), orders=7)  # before the range

    html = logged_in(is_staff=True).get(PAGE, {"days": "7"}).content.decode()

    charts = charts_of(html)
    day = (today - timedelta(days=2)).isoformat()
    assert bar_titles(charts["orders-chart"]) == [
        f"{day}: 2 orders",
        f"{today.isoformat()}: 4 orders",
    ]
    assert bar_titles(charts["revenue-chart"]) == [
        f"{day}: 9.99 EUR",
        f"{today.isoformat()}: 40.00 EUR",
    ]
    assert bar_titles(charts["lag-chart"]) == [f"{day} p50: 120 ms", f"{day} p95: 480 ms"]
    assert html.count("<tr><td>") == 7
    assert f"<tr><td>{(today - timedelta(days=1)).isoformat()}</td><td>0</td>" in html
    assert f"<tr><td>{day}</td><td>2</td><td>2</td><td>9.99 EUR</td>" in html


def test_the_orders_bars_are_as_tall_as_their_numbers_say():
    today = timezone.localdate()
    placed_today(4)
    for offset, orders in ((1, 0), (2, 2)):
        DailySummary.objects.create(day=today - timedelta(days=offset), orders=orders)

    html = logged_in(is_staff=True).get(PAGE, {"days": "3"}).content.decode()

    bars = bars_of(charts_of(html)["orders-chart"])
    assert [index for index, _ in bars] == [0, 2]  # none for the 0
    assert [bar.get("style") for _, bar in bars] == ["height: 50.00%", "height: 100.00%"]
