"""The side-effect lag in the daily rollup: per day, over the orders placed that day, the
time from placing to the last side effect done (p50/p95/p99), and the failed and pending
side effects; and what GET /api/analytics/daily/ shows of it."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from analytics_app import selectors, services
from analytics_app.models import AnalyticsEvent, DailySummary
from tests.factories import (
    OrderFactory,
    ProductFactory,
    SideEffectJobFactory,
    UserFactory,
    cart_with,
)
from tests.support.clients import client_for
from tests.support.jobs import jobs_run, order_jobs

pytestmark = pytest.mark.django_db

DAY = date(2024, 5, 1)
NOON = datetime(2024, 5, 1, 12, tzinfo=UTC)
KINDS = ("confirmation_email", "inventory", "analytics")


def order_with(placed_at: datetime, *after_ms, statuses=None) -> int:
    """An order placed at `placed_at`, its side effects' jobs asked for then (one per
    `after_ms`), each ended that many ms later, done unless `statuses` says otherwise (a
    pending one has not ended)."""
    order = OrderFactory(placed_at=placed_at)
    statuses = statuses or ["done"] * len(after_ms)
    for kind, ms, status in zip(KINDS[: len(after_ms)], after_ms, statuses, strict=True):
        SideEffectJobFactory(
            order=order,
            kind=kind,
            status=status,
            created_at=placed_at,
            ended_at=None if status == "pending" else placed_at + timedelta(milliseconds=ms),
        )
    return order.pk


def lag_of(summary: DailySummary) -> tuple:
    return (
        summary.side_effect_lag_p50_ms,
        summary.side_effect_lag_p95_ms,
        summary.side_effect_lag_p99_ms,
        summary.side_effect_lag_orders,
        summary.side_effects_failed,
        summary.side_effects_pending,
    )


# --- The rollup --------------------------------------------------------------------------


def test_an_orders_lag_runs_to_its_last_side_effect_done():
    order_with(NOON, 40, 250, 90)

    summary = services.daily_summary_rollup(day=DAY)

    assert lag_of(summary) == (250, 250, 250, 1, 0, 0)


def test_percentiles_are_over_the_days_done_orders():
    for ms in (100, 300, 200, 1000):
        order_with(NOON, 10, ms, 20)

    summary = services.daily_summary_rollup(day=DAY)

    # ranks: p50 = 2nd of 4, p95 and p99 = 4th of 4
    assert lag_of(summary) == (200, 1000, 1000, 4, 0, 0)


def test_percentiles_of_a_hundred_orders():
    for ms in range(1, 101):
        order_with(NOON + timedelta(seconds=ms), ms)

    summary = services.daily_summary_rollup(day=DAY)

    assert lag_of(summary)[:4] == (50, 95, 99, 100)


def test_orders_with_a_failed_or_pending_side_effect_count_those_but_have_no_lag():
    order_with(NOON, 100, 100, 100)
    order_with(NOON, 5, 5, 5, statuses=["failed", "done", "done"])
    order_with(NOON, 5, 5, 5, statuses=["pending", "failed", "pending"])

    summary = services.daily_summary_rollup(day=DAY)

    assert lag_of(summary) == (100, 100, 100, 1, 2, 2)


def test_a_day_without_orders_done_has_no_lag():
    order_with(NOON, 5, statuses=["pending"])

    summary = services.daily_summary_rollup(day=DAY)

    assert lag_of(summary) == (None, None, None, 0, 0, 1)
    assert lag_of(services.daily_summary_rollup(day=DAY + timedelta(days=1))) == (
        None,
        None,
        None,
        0,
        0,
        0,
    )


def test_only_the_orders_placed_that_day_count():
    order_with(datetime(2024, 5, 1, 0, 0, tzinfo=UTC), 10)
    order_with(datetime(2024, 5, 1, 23, 59, 59, tzinfo=UTC), 20)
    order_with(datetime(2024, 4, 30, 23, 59, 59, tzinfo=UTC), 1000)  # the day before
    order_with(datetime(2024, 5, 2, 0, 0, tzinfo=UTC), 1000)  # the day after

    summary = services.daily_summary_rollup(day=DAY)

    assert lag_of(summary) == (10, 20, 20, 2, 0, 0)


def test_the_day_is_the_shops_time_zones_as_for_the_events(settings):
    settings.TIME_ZONE = "Europe/Paris"  # UTC+2 in May
    paris = ZoneInfo("Europe/Paris")
    order_with(datetime(2024, 5, 1, 0, 30, tzinfo=paris), 10)  # 2024-04-30 22:30 UTC
    order_with(datetime(2024, 5, 2, 0, 30, tzinfo=paris), 1000)  # May 2 in Paris

    summary = services.daily_summary_rollup(day=DAY)

    assert lag_of(summary) == (10, 10, 10, 1, 0, 0)


def test_rerunning_a_day_rewrites_its_lag():
    order_with(NOON, 100)
    pending = order_with(NOON, 5, statuses=["pending"])
    first = services.daily_summary_rollup(day=DAY)
    assert lag_of(first) == (100, 100, 100, 1, 0, 1)

    order_jobs(pending).update(status="done", ended_at=NOON + timedelta(milliseconds=700))
    second = services.daily_summary_rollup(day=DAY)

    assert second.pk == first.pk
    assert lag_of(DailySummary.objects.get(day=DAY)) == (100, 700, 700, 2, 0, 0)
    assert lag_of(services.daily_summary_rollup(day=DAY)) == (100, 700, 700, 2, 0, 0)


def test_a_lag_over_a_second_is_kept_to_three_significant_digits():
    order_with(NOON, 12_345)

    assert services.daily_summary_rollup(day=DAY).side_effect_lag_p50_ms == 12_300


@pytest.mark.parametrize(
    ("ms", "bucket"),
    [(0, 0), (999, 999), (1000, 1000), (1234, 1230), (12_345, 12_300), (987_654, 988_000)],
)
def test_lag_buckets_are_exact_below_a_second(ms, bucket):
    assert selectors.lag_bucket(ms) == bucket


def test_lag_buckets_of_a_million_distinct_lags_are_few():
    assert len({selectors.lag_bucket(ms) for ms in range(0, 10_000_000, 7)}) < 5000


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 50, None),
        ([7], 50, 7),
        ([7], 99, 7),
        ([1, 2], 50, 1),
        ([1, 2], 51, 1),
        ([1, 2], 75, 2),
        ([3, 1, 2, 4], 50, 2),
        ([3, 1, 2, 4], 75, 3),
        ([3, 1, 2, 4], 76, 3),
        ([3, 1, 2, 4], 88, 4),
        ([5, 5, 5, 9], 95, 9),
    ],
)
def test_percentile_is_the_value_at_the_rounded_rank(values, p, expected):
    assert selectors.percentile(Counter(values), p) == expected


# --- The API -----------------------------------------------------------------------------


def event_for(order_id: int, at: datetime) -> None:
    AnalyticsEvent.objects.create(
        order_id=order_id, customer_id=1, items=[], units=1, revenue="10.00", occurred_at=at
    )


def test_daily_api_shows_each_days_lag_from_its_rollup():
    staff = client_for(UserFactory(is_staff=True))
    for ms in (100, 200):
        event_for(order_with(NOON, ms, 10, statuses=["done", "failed"]), NOON)
    event_for(order_with(NOON, 300), NOON)
    summary = services.daily_summary_rollup(day=DAY)

    body = staff.get("/api/analytics/daily/").json()

    row = body["results"][0]
    assert {key: value for key, value in row.items() if key != "rolled_up_at"} == {
        "day": "2024-05-01",
        "orders": 3,
        "cancelled": 0,
        "units": 3,
        "revenue": "30.00",
        "side_effect_lag_p50_ms": 300,
        "side_effect_lag_p95_ms": 300,
        "side_effect_lag_p99_ms": 300,
        "side_effect_lag_orders": 1,
        "side_effects_failed": 2,
        "side_effects_pending": 0,
    }
    assert row["rolled_up_at"] == summary.updated_at.isoformat().replace("+00:00", "Z")


def test_daily_api_before_the_rollup_shows_no_lag_and_no_rollup_time():
    staff = client_for(UserFactory(is_staff=True))
    event_for(order_with(NOON, 100), NOON)

    row = staff.get("/api/analytics/daily/").json()["results"][0]

    assert row["orders"] == 1
    assert row["side_effect_lag_p50_ms"] is None
    assert row["side_effect_lag_p95_ms"] is None
    assert row["side_effect_lag_p99_ms"] is None
    assert (row["side_effect_lag_orders"], row["side_effects_failed"]) == (0, 0)
    assert row["rolled_up_at"] is None


def test_a_checked_out_order_counts_once_its_tasks_have_done_its_side_effects(client, customer):
    cart = cart_with(customer, (ProductFactory(), 1))
    order_id = client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json").json()["id"]
    today = timezone.localdate()
    assert lag_of(services.daily_summary_rollup(day=today)) == (None, None, None, 0, 0, 3)

    for kind in KINDS:
        assert jobs_run(kind) == [str(order_id)]
    summary = services.daily_summary_rollup(day=today)

    jobs = order_jobs(order_id)
    asked_at = min(job.created_at for job in jobs)  # the checkout's transaction
    last_done = max(job.ended_at for job in jobs)
    expected = selectors.lag_bucket(round((last_done - asked_at).total_seconds() * 1000))
    assert lag_of(summary) == (expected, expected, expected, 1, 0, 0)


def test_daily_api_shows_todays_lag_as_of_now_without_a_rollup():
    staff = client_for(UserFactory(is_staff=True))
    placed = timezone.now()
    event_for(order_with(placed, 120), placed)

    row = staff.get("/api/analytics/daily/").json()["results"][0]

    assert (row["day"], row["orders"]) == (timezone.localdate().isoformat(), 1)
    assert (row["side_effect_lag_p50_ms"], row["side_effect_lag_orders"]) == (120, 1)
    assert row["rolled_up_at"] is None and not DailySummary.objects.exists()
