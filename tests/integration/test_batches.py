"""Runs that claim many orders' jobs at once, through a real Celery worker (in this process,
consuming from the real Redis broker) and a real SMTP server: one wake-up of a kind claims
the due jobs of every pending order (up to the kind's batch), and each job is still done,
retried and failed on its own."""

import logging

import pytest
from celery.signals import task_postrun

from analytics_app.models import AnalyticsEvent
from email_app.models import SentEmail
from store.models import StockMovement
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.jobs import order_jobs
from tests.support.polling import wait_until
from tests.support.processes import dispatcher_thread
from worker.dispatcher import Dispatcher
from worker.models import DeadLetter, Job

pytestmark = pytest.mark.django_db(transaction=True)

SIDE_EFFECT_TASKS = {
    "analytics_app.record_analytics",
    "email_app.send_confirmation_email",
    "store.apply_inventory",
}


@pytest.fixture
def shoppers(in_process_consumer, smtp_server):
    """Three users whose welcome emails went out, so they do not mix with the rest. The
    dispatcher runs for that only: the tests wake the workers themselves."""
    users = [UserFactory(email=f"shopper{n}@example.com") for n in range(3)]
    with dispatcher_thread():
        wait_until(lambda: len(smtp_server.messages) == 3, message="welcome emails")
    return users


def place_pending(users) -> list[int]:
    """One order each; their jobs wait, due, until a wake-up reaches the worker."""
    product = ProductFactory(on_hand=100, low_stock_threshold=0)
    ids = []
    for user in users:
        cart = cart_with(user.customer, (product, 1))
        response = client_for(user).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
        assert response.status_code == 201
        ids.append(response.json()["id"])
    return ids


def jobs_of(order_ids, kind):
    found = {int(job.key): job for job in order_jobs().filter(kind=kind)}
    return [found[order_id] for order_id in order_ids]


def states(order_ids, kind) -> list[str]:
    return [job.status for job in jobs_of(order_ids, kind)]


def attempts(order_ids, kind) -> list[int]:
    return [job.attempts for job in jobs_of(order_ids, kind)]


def settled(order_ids) -> bool:
    keys = [str(order_id) for order_id in order_ids]
    return not order_jobs().filter(key__in=keys, status=Job.Status.PENDING).exists()


def confirmations(smtp_server, order_id) -> int:
    subject = f"Your Shopflow order #{order_id}"
    return sum(1 for m in smtp_server.messages if m["Subject"] == subject)


@pytest.fixture
def runs():
    """What each side-effect run in the worker returned: (task, keys it did), in order."""
    done = []

    def record(sender=None, retval=None, **_):
        if sender.name in SIDE_EFFECT_TASKS:
            done.append((sender.name, retval))

    task_postrun.connect(record, weak=False)
    yield done
    task_postrun.disconnect(record)


def test_one_wake_up_of_each_kind_does_the_side_effects_of_three_orders(
    shoppers, smtp_server, runs
):
    order_ids = place_pending(shoppers)
    keys = [str(order_id) for order_id in order_ids]

    assert Dispatcher().tick() == 3  # one wake-up per kind: three orders fit one batch
    wait_until(lambda: settled(order_ids), message="the side effects")

    assert sorted(runs) == [  # three runs, each of every order, oldest first
        ("analytics_app.record_analytics", keys),
        ("email_app.send_confirmation_email", keys),
        ("store.apply_inventory", keys),
    ]
    for kind in ("confirmation_email", "inventory", "analytics"):
        assert states(order_ids, kind) == ["done"] * 3
        assert attempts(order_ids, kind) == [1, 1, 1]
    assert [confirmations(smtp_server, o) for o in order_ids] == [1, 1, 1]
    assert StockMovement.objects.filter(order_item__order_id__in=order_ids).count() == 3
    assert AnalyticsEvent.objects.filter(order_id__in=order_ids).count() == 3


def test_a_poison_order_in_a_batch_fails_alone(shoppers, smtp_server, runs):
    smtp_server.handler.refuse_to = {"shopper1@example.com"}  # for good: 554
    order_ids = place_pending(shoppers)

    Dispatcher().tick()
    wait_until(lambda: settled(order_ids), message="the side effects")

    # One run of the emails: the two good orders done, the refused one failed in it.
    [emails_run] = [keys for name, keys in runs if name == "email_app.send_confirmation_email"]
    assert emails_run == [str(order_ids[0]), str(order_ids[2])]
    assert states(order_ids, "confirmation_email") == ["done", "failed", "done"]
    assert attempts(order_ids, "confirmation_email") == [1, 1, 1]  # a 554 is not retried
    assert states(order_ids, "inventory") == ["done"] * 3
    assert states(order_ids, "analytics") == ["done"] * 3
    failed = jobs_of(order_ids, "confirmation_email")[1]
    assert "554" in failed.last_error and failed.ended_at is not None
    assert [confirmations(smtp_server, o) for o in order_ids] == [1, 0, 1]
    confirmed = SentEmail.objects.filter(kind="confirmation_email").values_list("key", flat=True)
    assert sorted(confirmed) == sorted([str(order_ids[0]), str(order_ids[2])])
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [failed.pk]


def test_a_transient_failure_of_one_order_retries_that_order_alone(shoppers, smtp_server, caplog):
    smtp_server.handler.defer_to = {"shopper2@example.com": 2}  # 451 twice, then accepted
    order_ids = place_pending(shoppers)

    with caplog.at_level(logging.WARNING, logger="worker.tasks_base"), dispatcher_thread():
        # The dispatcher wakes the orders, then the retry once it is due again.
        wait_until(lambda: settled(order_ids), message="the side effects")

    assert states(order_ids, "confirmation_email") == ["done"] * 3
    assert attempts(order_ids, "confirmation_email") == [1, 1, 3]
    assert attempts(order_ids, "inventory") == [1, 1, 1]
    assert [confirmations(smtp_server, o) for o in order_ids] == [1, 1, 1]
    retries = [r.getMessage() for r in caplog.records if "transient error" in r.getMessage()]
    # One retry for each refusal, of the order refused alone ...
    prefix = f"email_app.send_confirmation_email({order_ids[2]}): transient error, attempt"
    assert [r.startswith(f"{prefix} {n}/4") for n, r in enumerate(retries, 1)] == [True, True]
    assert not order_jobs().filter(status=Job.Status.FAILED).exists()
    # ... which waited for its due time: the other two were sent once, first.
    assert smtp_server.messages[-1]["Subject"] == f"Your Shopflow order #{order_ids[2]}"
