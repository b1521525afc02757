"""An order's life after its checkout, through the API: cancelled by its customer or staff,
fulfilled by staff, never both; again changes nothing; and what each opens (its side
effects, run here as a woken worker runs them)."""

import pytest

from analytics_app.selectors import daily_summary
from email_app.models import SentEmail
from notifications.models import Notification
from store.models import StockMovement
from store.services.stock import inventory_apply, stock_release
from tests.factories import ProductFactory, UserFactory
from tests.support.clients import client_for
from tests.support.jobs import jobs_run, order_jobs
from tests.support.orders import place_order, stock
from tests.support.smtp import body_text
from worker.models import Job

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_too]


@pytest.fixture
def staff():
    return client_for(UserFactory(is_staff=True))


def cancel(client, order_id, **body):
    return client.post(f"/api/orders/{order_id}/cancel/", body, format="json")


def fulfil(client, order_id, **body):
    return client.post(f"/api/orders/{order_id}/fulfil/", body, format="json")


def kinds_of(order_id) -> dict[str, str]:
    return dict(order_jobs(order_id).values_list("kind", "status"))


def test_a_customer_cancels_their_order_and_again_changes_nothing(client, customer):
    order = place_order(customer, (ProductFactory(on_hand=10), 2), client=client)
    assert order["status"] == "placed" and order["cancelled_at"] is None
    assert set(order["side_effects"]) == {"confirmation_email", "inventory", "analytics"}

    first = cancel(client, order["id"], reason="Ordered twice")
    again = cancel(client, order["id"], reason="Another reason")

    assert first.status_code == again.status_code == 200, first.json()
    assert first.json()["status"] == "cancelled" and first.json()["cancelled_at"]
    assert again.json()["cancelled_at"] == first.json()["cancelled_at"]
    assert first.json()["side_effects"]["stock_release"] == "pending"
    assert first.json()["side_effects"]["cancellation_email"] == "pending"
    assert "shipping_email" not in first.json()["side_effects"]
    assert list(Job.objects.filter(kind="stock_release").values_list("key", flat=True)) == [
        str(order["id"])
    ]
    notified = Notification.objects.filter(kind="order_cancelled", recipient=customer.user)
    assert notified.count() == 1


def test_another_customers_order_is_not_found_and_a_fulfilled_one_cannot_be_cancelled(
    client, customer, staff
):
    theirs = place_order(UserFactory().customer)
    assert cancel(client, theirs["id"]).status_code == 404
    assert Job.objects.filter(kind="stock_release").count() == 0

    mine = place_order(customer, client=client)
    assert fulfil(staff, mine["id"], tracking_number="TRK-1").status_code == 200
    refused = cancel(client, mine["id"])
    assert refused.status_code == 409
    assert "fulfilled" in refused.json()["detail"]


def test_staff_cancel_any_order_and_only_staff_fulfil(client, customer, staff):
    order = place_order(customer, client=client)
    assert fulfil(client, order["id"]).status_code == 403

    cancelled = cancel(staff, order["id"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    refused = fulfil(staff, order["id"])
    assert refused.status_code == 409 and "cancelled" in refused.json()["detail"]


def test_a_fulfil_records_its_tracking_number_once(client, customer, staff):
    order = place_order(customer, client=client)
    first = fulfil(staff, order["id"], tracking_number="TRK-42")
    again = fulfil(staff, order["id"], tracking_number="TRK-43")

    assert first.status_code == again.status_code == 200
    assert again.json()["tracking_number"] == "TRK-42"
    assert again.json()["fulfilled_at"] == first.json()["fulfilled_at"]
    assert kinds_of(order["id"])["shipping_email"] == "pending"
    assert Job.objects.filter(kind="shipping_email").count() == 1


@pytest.mark.parametrize(
    "body", [{"reason": "x" * 501}, {"reason": ["a list"]}, {"tracking_number": "y" * 101}]
)
def test_bad_input_is_a_400_and_changes_nothing(client, customer, staff, body):
    order = place_order(customer, client=client)
    answer = (
        fulfil(staff, order["id"], **body)
        if "tracking_number" in body
        else cancel(client, order["id"], **body)
    )
    assert answer.status_code == 400
    assert client.get(f"/api/orders/{order['id']}/").json()["status"] == "placed"


def test_a_cancel_before_the_inventory_gives_the_reservation_back_once(client, customer):
    mug = ProductFactory(on_hand=10)
    order = place_order(customer, (mug, 3), client=client)
    assert cancel(client, order["id"]).status_code == 200

    assert inventory_apply(order_id=order["id"]) is False  # it sees the order cancelled
    assert stock_release(order_id=order["id"]) is True
    assert stock_release(order_id=order["id"]) is False
    assert inventory_apply(order_id=order["id"]) is False

    assert stock(mug) == (10, 0)
    [movement] = StockMovement.objects.filter(product=mug)
    assert (movement.reason, movement.delta) == ("release", 0)


def test_a_cancel_after_the_inventory_puts_the_units_back_on_hand_once(client, customer):
    mug, tee = ProductFactory(on_hand=10), ProductFactory(on_hand=5)
    order = place_order(customer, (mug, 3), (tee, 1), client=client)
    assert inventory_apply(order_id=order["id"]) is True
    assert stock(mug) == (7, 0)
    assert cancel(client, order["id"]).status_code == 200

    assert jobs_run("stock_release") == [str(order["id"])]
    assert jobs_run("stock_release") == []

    assert stock(mug) == (10, 0) and stock(tee) == (5, 0)
    released = StockMovement.objects.filter(reason="release").order_by("product_id")
    assert [m.delta for m in released] == [3, 1]


def test_conservation_over_cancelled_and_standing_orders(client, customer):
    """Available = what it was minus the standing orders' quantities, however the
    cancels fell around the inventory jobs."""
    mug = ProductFactory(on_hand=50)
    orders = [place_order(customer, (mug, n), client=client)["id"] for n in (1, 2, 3, 4)]
    inventory_apply(order_id=orders[0])
    inventory_apply(order_id=orders[1])
    for order_id in (orders[0], orders[2]):  # one after its inventory, one before
        assert cancel(client, order_id).status_code == 200
    jobs_run("inventory", runs=4)
    jobs_run("stock_release", runs=4)

    mug.refresh_from_db()
    assert mug.available == 50 - 2 - 4
    assert (mug.on_hand, mug.reserved) == (44, 0)


def test_the_emails_say_what_happened_and_no_confirmation_follows_a_cancel(
    client, customer, staff, smtp_server
):
    cancelled = place_order(customer, client=client)["id"]
    shipped = place_order(customer, client=client)["id"]
    assert cancel(client, cancelled).status_code == 200
    assert fulfil(staff, shipped, tracking_number="TRK-7").status_code == 200

    jobs_run("cancellation_email")
    jobs_run("shipping_email")
    jobs_run("confirmation_email", runs=2)

    subjects = [m["Subject"] for m in smtp_server.messages]
    assert f"Your Shopflow order #{cancelled} is cancelled" in subjects
    assert f"Your Shopflow order #{cancelled}" not in subjects  # no confirmation after it
    assert kinds_of(cancelled)["confirmation_email"] == "done"  # nothing to send
    [shipping] = [m for m in smtp_server.messages if "on its way" in m["Subject"]]
    assert f"#{shipped}" in shipping["Subject"] and "TRK-7" in body_text(shipping)
    assert SentEmail.objects.filter(kind="confirmation_email", key=str(cancelled)).count() == 0


def test_a_cancellation_waits_while_the_confirmation_is_being_sent(client, customer, settings):
    from django.utils import timezone

    order_id = place_order(customer, client=client)["id"]
    confirming = Job.objects.filter(kind="confirmation_email", key=str(order_id))
    confirming.update(leased_until=timezone.now() + timezone.timedelta(seconds=30))
    assert cancel(client, order_id).status_code == 200

    assert jobs_run("cancellation_email") == []
    job = Job.objects.get(kind="cancellation_email", key=str(order_id))
    assert job.status == "pending" and "confirmation is being sent" in job.last_error
    # Again in a tenth of a lease or so (its retries outlast one), not at once.
    recheck = settings.SHOPFLOW_JOB_LEASE_SECONDS / settings.SHOPFLOW_TASK_MAX_RETRIES
    assert min(recheck, 30) - 2 < (job.due_at - timezone.now()).total_seconds() < 31


def test_the_days_figures_take_a_cancelled_order_back(client, customer):
    kept = place_order(customer, (ProductFactory(price="10.00"), 1), client=client)
    gone = place_order(customer, (ProductFactory(price="25.00"), 1), client=client)
    jobs_run("analytics", runs=2)
    assert cancel(client, gone["id"]).status_code == 200
    jobs_run("analytics_cancellation")

    [today] = daily_summary()
    assert (today["orders"], today["cancelled"]) == (2, 1)
    assert today["revenue"] == 10 and kept["total"] == "10.00"


def test_a_cancel_takes_back_only_what_was_counted_and_rolls_up_an_older_day(client, customer):
    from datetime import timedelta

    from django.utils import timezone

    from analytics_app.models import AnalyticsEvent, DailySummary
    from analytics_app.services import daily_summary_rollup
    from store.models import Order

    uncounted = place_order(customer, (ProductFactory(price="40.00"), 1), client=client)
    assert cancel(client, uncounted["id"]).status_code == 200
    jobs_run("analytics_cancellation")  # before the checkout's analytics ran
    [today] = daily_summary()
    assert (today["orders"], today["cancelled"], today["revenue"]) == (0, 0, 0)

    older = place_order(customer, (ProductFactory(price="25.00"), 1), client=client)
    jobs_run("analytics", runs=2)
    days_ago = timezone.now() - timedelta(days=5)
    Order.objects.filter(pk=older["id"]).update(placed_at=days_ago)
    AnalyticsEvent.objects.filter(order_id=older["id"]).update(occurred_at=days_ago)
    day = timezone.localdate(days_ago)
    daily_summary_rollup(day=day)
    assert DailySummary.objects.get(day=day).revenue == 25
    assert cancel(client, older["id"]).status_code == 200
    jobs_run("analytics_cancellation")
    rolled = DailySummary.objects.get(day=day)
    assert (rolled.orders, rolled.cancelled, rolled.revenue) == (1, 1, 0)
