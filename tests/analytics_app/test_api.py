"""Analytics: one event per order, the staff-only read API, and the daily rollup."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics_app import services
from analytics_app.models import AnalyticsEvent, DailySummary
from analytics_app.tasks import record_analytics, rollup_daily_summary
from store.models import Order
from tests.factories import ProductFactory, UserFactory
from tests.support.clients import client_for
from tests.support.jobs import jobs_run, order_jobs, side_effect_status
from tests.support.orders import place_order
from worker.jobs import enqueue_on_commit
from worker.models import Job

pytestmark = pytest.mark.django_db

DAY_ONE = date(2024, 5, 1)
DAY_TWO = date(2024, 5, 2)


def event_on(day: date, *, hour=12, units=1, revenue="10.00", order_id=None) -> AnalyticsEvent:
    order_id = order_id or AnalyticsEvent.objects.count() + 1000
    return AnalyticsEvent.objects.create(
        order_id=order_id,
        customer_id=1,
        items=[],
        units=units,
        revenue=Decimal(revenue),
        occurred_at=datetime(day.year, day.month, day.day, hour, tzinfo=UTC),
    )


@pytest.fixture
def staff_client(db):
    return client_for(UserFactory(is_staff=True))


# --- Recording ---------------------------------------------------------------------------


def test_analytics_records_units_revenue_and_items(customer):
    mug = ProductFactory(sku="MUG-1", price=Decimal("12.50"))
    tee = ProductFactory(sku="TEE-1", price=Decimal("20.00"))
    order_id = place_order(customer, (mug, 2), (tee, 1))["id"]

    assert services.analytics_record(order_id=order_id) is True

    event = AnalyticsEvent.objects.get(order_id=order_id)
    order = Order.objects.get(pk=order_id)
    assert event.name == "order_placed"
    assert event.customer_id == customer.pk
    assert event.units == 3
    assert event.revenue == Decimal("45.00")
    assert event.occurred_at == order.placed_at
    assert sorted(event.items, key=lambda item: item["sku"]) == [
        {"product_id": mug.pk, "sku": "MUG-1", "quantity": 2, "unit_price": "12.50"},
        {"product_id": tee.pk, "sku": "TEE-1", "quantity": 1, "unit_price": "20.00"},
    ]


def test_second_record_of_the_same_order_records_nothing(customer):
    order_id = place_order(customer, (ProductFactory(), 1))["id"]
    assert services.analytics_record(order_id=order_id) is True

    services.analytics_record(order_id=order_id)
    record_analytics(str(order_id))  # the task's function itself
    assert jobs_run("analytics") == [str(order_id)]  # and its job

    assert AnalyticsEvent.objects.filter(order_id=order_id).count() == 1


def test_one_run_records_every_due_order_then_none_again(customer):
    orders = [place_order(customer, (ProductFactory(), n))["id"] for n in (1, 2, 3)]

    assert jobs_run("analytics") == [str(order_id) for order_id in orders]

    assert sorted(AnalyticsEvent.objects.values_list("order_id", "units")) == [
        (orders[0], 1),
        (orders[1], 2),
        (orders[2], 3),
    ]
    assert set(order_jobs().filter(kind="analytics").values_list("status", flat=True)) == {"done"}
    assert jobs_run("analytics") == []
    assert AnalyticsEvent.objects.count() == 3


def test_recording_marks_the_analytics_side_effect_done(customer):
    order_id = place_order(customer, (ProductFactory(), 1))["id"]
    assert side_effect_status(order_id, "analytics") == "pending"

    jobs_run("analytics")

    assert side_effect_status(order_id, "analytics") == "done"


def test_recording_an_unknown_order_records_nothing_and_its_job_is_done():
    with pytest.raises(Order.DoesNotExist):
        services.analytics_record(order_id=999_999)
    enqueue_on_commit(record_analytics, 999_999)

    assert jobs_run("analytics") == []  # nothing recorded, and nothing a retry would change

    assert Job.objects.get(kind="analytics", key="999999").status == "done"
    assert not AnalyticsEvent.objects.exists()


# --- Access ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/analytics/events/", "/api/analytics/daily/"])
def test_anonymous_gets_401(anon_client, path):
    response = anon_client.get(path)
    assert response.status_code == 401
    assert "detail" in response.json()


@pytest.mark.parametrize("path", ["/api/analytics/events/", "/api/analytics/daily/"])
def test_a_shopper_gets_403(client, path):
    response = client.get(path)
    assert response.status_code == 403
    assert "detail" in response.json()


@pytest.mark.parametrize("path", ["/api/analytics/events/", "/api/analytics/daily/"])
def test_staff_gets_200(staff_client, path):
    assert staff_client.get(path).status_code == 200


# --- Reading -----------------------------------------------------------------------------


def test_event_list_shows_recorded_events_newest_first(staff_client):
    older = event_on(DAY_ONE, units=2, revenue="20.00")
    newer = event_on(DAY_TWO, units=1, revenue="5.50")

    body = staff_client.get("/api/analytics/events/").json()

    assert body["count"] == 2
    assert [row["order_id"] for row in body["results"]] == [newer.order_id, older.order_id]
    assert body["results"][0]["revenue"] == "5.50"
    assert body["results"][1]["units"] == 2


def test_event_list_honours_since_and_until_and_names_a_bad_one(staff_client):
    event_on(DAY_ONE)
    kept = event_on(DAY_TWO)
    event_on(DAY_TWO + timedelta(days=1))

    body = staff_client.get("/api/analytics/events/?since=2024-05-02&until=2024-05-02").json()
    assert [row["order_id"] for row in body["results"]] == [kept.order_id]
    assert staff_client.get("/api/analytics/events/?since=2024-05-03").json()["count"] == 1

    bad = staff_client.get("/api/analytics/events/?since=yesterday")
    assert bad.status_code == 400 and "since" in bad.json()
    backwards = staff_client.get("/api/analytics/events/?since=2024-05-02&until=2024-05-01")
    assert backwards.status_code == 400 and "until" in backwards.json()


def test_daily_summary_groups_events_by_day(staff_client):
    event_on(DAY_ONE, hour=0, units=2, revenue="20.00")
    event_on(DAY_ONE, hour=23, units=1, revenue="5.25")
    event_on(DAY_TWO, hour=9, units=4, revenue="100.00")

    response = staff_client.get("/api/analytics/daily/")

    assert response.status_code == 200
    totals = ("day", "orders", "units", "revenue")
    assert [{key: row[key] for key in totals} for row in response.json()["results"]] == [
        {"day": "2024-05-02", "orders": 1, "units": 4, "revenue": "100.00"},
        {"day": "2024-05-01", "orders": 2, "units": 3, "revenue": "25.25"},
    ]


def test_daily_summary_filters_by_since_and_until(staff_client):
    event_on(DAY_ONE)
    event_on(DAY_TWO)
    event_on(DAY_TWO + timedelta(days=1))

    body = staff_client.get("/api/analytics/daily/?since=2024-05-02&until=2024-05-02").json()

    assert [row["day"] for row in body["results"]] == ["2024-05-02"]


def test_daily_summary_with_a_bad_date_is_400_json_with_detail(staff_client):
    response = staff_client.get("/api/analytics/daily/?since=bad-date")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["detail"].startswith("since:")
    assert "since" in body


# --- Rollup ------------------------------------------------------------------------------


def test_rollup_is_idempotent(db):
    event_on(DAY_ONE, units=2, revenue="20.00")
    event_on(DAY_ONE, units=3, revenue="7.50")

    first = services.daily_summary_rollup(day=DAY_ONE)
    second = services.daily_summary_rollup(day=DAY_ONE)

    assert first.pk == second.pk
    row = DailySummary.objects.get(day=DAY_ONE)
    assert (row.orders, row.units, row.revenue) == (2, 5, Decimal("27.50"))


def test_rollup_picks_up_a_late_event_on_rerun(db):
    event_on(DAY_ONE, units=1, revenue="10.00")
    services.daily_summary_rollup(day=DAY_ONE)
    event_on(DAY_ONE, hour=18, units=1, revenue="10.00")

    services.daily_summary_rollup(day=DAY_ONE)

    row = DailySummary.objects.get(day=DAY_ONE)
    assert (row.orders, row.units, row.revenue) == (2, 2, Decimal("20.00"))


def test_rollup_of_a_day_without_events_is_zero(db):
    summary = services.daily_summary_rollup(day=DAY_TWO)
    assert (summary.orders, summary.units, summary.revenue) == (0, 0, Decimal("0"))


def test_rollup_task_returns_the_days_it_rolled(db):
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    event_on(today, hour=0, units=2, revenue="3.00")

    days = rollup_daily_summary(days=2)

    assert days == [today.isoformat(), yesterday.isoformat()]
    assert set(DailySummary.objects.values_list("day", flat=True)) == {today, yesterday}
    assert DailySummary.objects.get(day=today).units == 2
    assert rollup_daily_summary() == days  # the schedule's default: today and yesterday
