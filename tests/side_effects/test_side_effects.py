"""Where an order's side effects stand, as the API shows it: its jobs' states (a kind
with no job, pending); an order deleted since its checkout; and the atomic kinds, whose
work commits with their done record or not at all."""

import uuid

import pytest
from django.core import mail

from analytics_app.models import AnalyticsEvent
from email_app.models import SentEmail
from side_effects.selectors import side_effect_states
from store.models import Order, StockMovement
from store.services import stock
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.jobs import jobs_run, order_jobs
from tests.support.orders import place_order
from worker.jobs import job_done, job_fail, jobs_claim, jobs_redrive
from worker.models import Job
from worker.tasks_base import job_tasks

pytestmark = pytest.mark.django_db

ALL_PENDING = {"inventory": "pending", "analytics": "pending", "confirmation_email": "pending"}


def effects(client, order_id) -> dict:
    return client.get(f"/api/orders/{order_id}/").json()["side_effects"]


def test_an_orders_side_effects_follow_its_jobs(client, customer):
    order_id = place_order(customer)["id"]
    assert effects(client, order_id) == ALL_PENDING

    assert jobs_run("inventory") == [str(order_id)]

    assert effects(client, order_id) == {**ALL_PENDING, "inventory": "done"}


def test_a_failed_job_shows_failed_and_a_redrive_sets_it_back_to_pending(
    client, customer, monkeypatch
):
    order_id = place_order(customer)["id"]

    def refused(*, order_id):
        raise ValueError("a row the database refuses")

    monkeypatch.setattr(stock, "inventory_apply", refused)
    assert jobs_run("inventory") == []
    assert effects(client, order_id) == {**ALL_PENDING, "inventory": "failed"}

    assert jobs_redrive(jobs=order_jobs(order_id)) == 1

    assert effects(client, order_id) == ALL_PENDING
    monkeypatch.undo()
    assert jobs_run("inventory") == [str(order_id)]
    assert effects(client, order_id) == {**ALL_PENDING, "inventory": "done"}


def test_a_kind_with_no_job_shows_pending(client, customer):
    """Its receiver refused at checkout: no job, shown pending (not missing)."""
    order_id = place_order(customer)["id"]
    jobs_run("analytics")
    order_jobs(order_id).filter(kind="inventory").delete()

    assert effects(client, order_id) == {**ALL_PENDING, "analytics": "done"}


def test_the_list_and_an_order_read_alone_show_the_same_states(client, customer):
    """The API reads them annotated on its orders (side_effects_annotate); an order read
    alone reads its jobs in one query."""
    first, second = (place_order(customer)["id"] for _ in range(2))
    jobs_run("inventory")  # both
    jobs_run("analytics")
    order_jobs(second).filter(kind="analytics").update(status="failed")

    listed = {o["id"]: o["side_effects"] for o in client.get("/api/orders/").json()["results"]}

    alone = {i: side_effect_states(order=Order.objects.get(pk=i)) for i in (first, second)}
    assert listed == alone
    assert alone[second] == {**ALL_PENDING, "inventory": "done", "analytics": "failed"}


def test_a_late_failure_report_does_not_undo_done(client, customer):
    order_id = place_order(customer)["id"]
    [attempt] = jobs_claim(kind="inventory", limit=1)
    assert job_done(job=attempt) is True

    assert job_fail(job=attempt, error="an old attempt's error") is False

    assert effects(client, order_id)["inventory"] == "done"


def test_side_effects_of_someone_elses_order_are_not_visible(customer):
    order_id = place_order(customer)["id"]

    assert client_for(UserFactory()).get(f"/api/orders/{order_id}/").status_code == 404


# What each kind writes when it does its work.
WRITES = {
    "inventory": lambda: StockMovement.objects.count(),
    "analytics": lambda: AnalyticsEvent.objects.count(),
    "confirmation_email": lambda: SentEmail.objects.count() + len(mail.outbox),
}


@pytest.mark.parametrize("kind", WRITES)
def test_an_order_deleted_since_its_checkout_ends_its_job_done_with_nothing_done(customer, kind):
    order_id = place_order(customer)["id"]
    Order.objects.filter(pk=order_id).delete()

    jobs_run(kind)

    ended = Job.objects.get(kind=kind, key=str(order_id))
    assert (ended.status, ended.attempts, ended.last_error) == ("done", 1, "")
    assert WRITES[kind]() == 0
    assert jobs_run(kind) == []


@pytest.mark.parametrize("lease", ["held", "taken over"])
@pytest.mark.parametrize("kind", ["inventory", "analytics"])
def test_an_atomic_kinds_work_commits_with_its_done_record_or_not_at_all(customer, kind, lease):
    """Its attempt's lease ran out and another attempt took the job over before it
    recorded done: its work goes with the record it could not write."""
    order_id = place_order(customer)["id"]
    task = job_tasks()[kind]
    [attempt] = jobs_claim(kind=kind, limit=1)
    if lease == "taken over":
        Job.objects.filter(pk=attempt.pk).update(lease_id=uuid.uuid4())

    ended = task._one(attempt)

    after = Job.objects.get(kind=kind, key=str(order_id))
    if lease == "held":
        assert (ended, after.status, WRITES[kind]() > 0) == (True, "done", True)
    else:
        assert (ended, after.status, WRITES[kind]()) == (False, "pending", 0)
        assert after.lease_id != attempt.lease_id  # the other attempt's, untouched
