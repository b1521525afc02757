"""A side effect's run on jobs (SideEffectTask, worker.jobs): it claims up to its batch of
due orders' jobs and runs each order in turn, each ending on its own (done, its own retry
due later, failed and told once), its attempts counted in its job. The real broker and
worker paths: tests/integration, tests/e2e (a worker killed, frozen, cut off)."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection

from core.clock import db_now
from side_effects.signals import side_effect_failed
from store import tasks as store_tasks
from store.models import StockMovement
from store.services import stock
from tests.support.jobs import jobs_run
from tests.support.orders import place_order
from tests.support.signals import signals_sent
from worker import tasks_base
from worker.models import Job

pytestmark = pytest.mark.django_db


class WorkerDied(BaseException):
    """Stands for the worker's process dying in an order's work."""


def inventory(order_ids) -> list[str]:
    found = dict(
        Job.objects.filter(kind="inventory", key__in=[str(i) for i in order_ids]).values_list(
            "key", "status"
        )
    )
    return [found[str(order_id)] for order_id in order_ids]


def job(order_id) -> Job:
    return Job.objects.get(kind="inventory", key=str(order_id))


def moved(order_id) -> bool:
    """Whether the order's stock was taken (its ledger rows)."""
    return StockMovement.objects.filter(order_item__order_id=order_id).exists()


def database_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")  # Django's Now() on PostgreSQL
        return cursor.fetchone()[0]


@pytest.fixture
def one_order_fails(monkeypatch):
    """inventory_apply raising `error` for the order `failing[0]`, the others done."""
    real_apply, failing = stock.inventory_apply, []

    def apply(*, order_id):
        if order_id == failing[0]:
            raise failing[1]
        return real_apply(order_id=order_id)

    monkeypatch.setattr(stock, "inventory_apply", apply)
    return failing


@pytest.fixture
def ran(monkeypatch) -> list:
    """The orders inventory_apply ran for, in order (it still does the work)."""
    real_apply, ran = stock.inventory_apply, []

    def apply(*, order_id):
        ran.append(order_id)
        return real_apply(order_id=order_id)

    monkeypatch.setattr(stock, "inventory_apply", apply)
    return ran


@pytest.fixture
def told():
    """side_effect_failed as staff hear of it: (order_id, kind, error)."""
    arguments = ("order_id", "kind", "error")
    with signals_sent(side_effect_failed, *arguments, uid="tests.side_effects.told") as sent:
        yield sent


def test_a_run_claims_up_to_its_batch_of_due_orders(customer, settings):
    settings.SHOPFLOW_SIDE_EFFECT_BATCH_SIZE = 2
    order_ids = [place_order(customer)["id"] for _ in range(3)]

    assert jobs_run("inventory") == [str(i) for i in order_ids[:2]]

    assert inventory(order_ids) == ["done", "done", "pending"]
    assert [moved(i) for i in order_ids] == [True, True, False]
    assert jobs_run("inventory") == [str(order_ids[2])]
    assert moved(order_ids[2])


def test_an_order_that_fails_for_good_fails_alone_and_staff_are_told_once(
    customer, one_order_fails, told
):
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    one_order_fails += [order_ids[1], ValueError("a row the database refuses")]

    assert jobs_run("inventory") == [str(order_ids[0]), str(order_ids[2])]
    assert jobs_run("inventory") == []  # nothing left due

    assert inventory(order_ids) == ["done", "failed", "done"]
    error = "ValueError: a row the database refuses"
    assert (job(order_ids[1]).attempts, job(order_ids[1]).last_error) == (1, error)
    assert told == [(order_ids[1], "inventory", error)]


@pytest.mark.postgres  # reads the database's clock as PostgreSQL tells it
def test_an_order_that_fails_for_now_is_retried_alone_due_later_by_the_backoff(
    customer, one_order_fails, monkeypatch, told
):
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    one_order_fails += [order_ids[1], ConnectionError("the database went away")]
    asked = []  # the backoff's jitter may draw 0 s: this test's draws 30

    def backoff(**how):
        asked.append(how)
        return 30

    monkeypatch.setattr(tasks_base, "retry_countdown", backoff)

    before = database_now()
    assert jobs_run("inventory") == [str(order_ids[0]), str(order_ids[2])]
    after = database_now()

    assert asked == [{"retries": 0, "retry_after": 0}]  # after its first attempt
    assert inventory(order_ids) == ["done", "pending", "done"]
    retried = job(order_ids[1])
    assert (retried.attempts, retried.lease_id) == (1, None)
    assert retried.last_error == "ConnectionError: the database went away"
    wait = timedelta(seconds=30)
    assert before + wait <= retried.due_at <= after + wait
    assert jobs_run("inventory") == []  # not due yet
    assert job(order_ids[1]).attempts == 1
    assert told == []


def test_an_order_past_its_last_attempt_fails_alone(customer, one_order_fails, settings, told):
    settings.SHOPFLOW_TASK_MAX_RETRIES = 2  # three attempts
    order_ids = [place_order(customer)["id"] for _ in range(2)]
    Job.objects.filter(pk=job(order_ids[0]).pk).update(attempts=2)  # two retried before
    one_order_fails += [order_ids[0], ConnectionError("the database went away")]

    assert jobs_run("inventory") == [str(order_ids[1])]

    assert inventory(order_ids) == ["failed", "done"]
    assert job(order_ids[0]).attempts == 3
    assert told == [(order_ids[0], "inventory", "ConnectionError: the database went away")]


def lose(order_id, *, attempts: int) -> None:
    """The order's last attempt lost its worker: its lease ran out, never ended."""
    Job.objects.filter(pk=job(order_id).pk).update(
        attempts=attempts, lease_id=uuid.uuid4(), leased_until=db_now(plus_seconds=-1)
    )


def test_an_order_whose_last_attempt_lost_its_worker_runs_alone(customer, ran):
    """The others do not wait on it: it may kill this worker too."""
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    lose(order_ids[1], attempts=1)

    assert jobs_run("inventory") == [str(order_ids[1])]

    assert ran == [order_ids[1]]
    assert job(order_ids[1]).attempts == 2
    assert jobs_run("inventory") == [str(order_ids[0]), str(order_ids[2])]


def test_an_order_whose_every_attempt_lost_its_worker_fails_unrun_and_staff_are_told(
    customer, ran, settings, told
):
    settings.SHOPFLOW_TASK_MAX_RETRIES = 2  # three attempts
    order_ids = [place_order(customer)["id"] for _ in range(2)]
    lose(order_ids[0], attempts=3)

    assert jobs_run("inventory") == []

    assert ran == []
    assert inventory(order_ids) == ["failed", "pending"]
    error = "its 3 attempts all lost their worker before they ended"
    assert told == [(order_ids[0], "inventory", error)]
    assert jobs_run("inventory") == [str(order_ids[1])]


def test_a_worker_dying_in_an_order_leaves_its_attempt_counted_and_the_rest_back(
    customer, one_order_fails
):
    """What a worker that dies in the work leaves: the order's attempt counted under its
    lease (lost once that runs out), its work undone; the orders not started due again
    now, their attempt not counted."""
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    one_order_fails += [order_ids[0], WorkerDied()]

    with pytest.raises(WorkerDied):
        store_tasks.apply_inventory()  # a woken run: no key

    dying = job(order_ids[0])
    assert (dying.status, dying.attempts, dying.lease_id is not None) == ("pending", 1, True)
    assert not moved(order_ids[0])
    assert [(job(i).attempts, job(i).lease_id) for i in order_ids[1:]] == [(0, None)] * 2
    assert jobs_run("inventory") == [str(i) for i in order_ids[1:]]


def test_orders_past_the_run_budget_go_back_due_now_unstarted(
    customer, monkeypatch, monotonic_clock, settings
):
    """The one run budget (worker.tasks_base.last_start_by: half the soft time limit, here
    0.5 s), spent by the first order (a second of the clock the test moves)."""
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 1
    apply = stock.inventory_apply

    def slow(**kwargs):
        monotonic_clock.advance(1)
        return apply(**kwargs)

    monkeypatch.setattr(stock, "inventory_apply", slow)

    assert jobs_run("inventory") == [str(order_ids[0])]

    assert inventory(order_ids) == ["done", "pending", "pending"]
    assert [(job(i).attempts, job(i).lease_id) for i in order_ids[1:]] == [(0, None)] * 2
    monkeypatch.setattr(stock, "inventory_apply", apply)
    assert jobs_run("inventory") == [str(i) for i in order_ids[1:]]
