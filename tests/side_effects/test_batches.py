"""SideEffectTask with a message of several orders: one loop, each order in its own
transaction, each ending on its own (done, its own retry, its own dead letter), its
attempts counted in its row. The real broker and worker paths: tests/integration,
tests/e2e (a worker killed, frozen, cut off)."""

from datetime import timedelta

import pytest
from celery.exceptions import Reject, SoftTimeLimitExceeded
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from side_effects.models import OrderSideEffect
from store import tasks as store_tasks
from store.services import stock
from tests.support.orders import place_order
from worker import dead_letters, outbox, tasks_base
from worker.models import DeadLetter, OutboxMessage

pytestmark = pytest.mark.django_db


def inventory(order_ids) -> list[str]:
    found = dict(
        OrderSideEffect.objects.filter(kind="inventory", order_id__in=order_ids).values_list(
            "order_id", "status"
        )
    )
    return [found[order_id] for order_id in order_ids]


def attempts(order_id) -> int:
    return OrderSideEffect.objects.get(kind="inventory", order_id=order_id).open_attempts


def retries_recorded():
    """The outbox rows a run wrote (a checkout's have no `not_before`)."""
    return OutboxMessage.objects.filter(task_name="store.apply_inventory", not_before__isnull=False)


class Delivery:
    """A delivery of `apply_inventory` by a worker (not a direct call): its request."""

    def __init__(self, *, redelivered=False, retries=0):
        self.request = {
            "id": "4c0ffee0-0000-0000-0000-00000000000b",
            "called_directly": False,
            "retries": retries,
            "delivery_info": {"redelivered": redelivered, "routing_key": "inventory"},
        }

    def __call__(self, order_ids):
        store_tasks.apply_inventory.push_request(**self.request)
        try:
            return store_tasks.apply_inventory(order_ids)
        finally:
            store_tasks.apply_inventory.pop_request()


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


def test_an_order_that_fails_for_good_is_dead_lettered_alone(customer, one_order_fails):
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    one_order_fails += [order_ids[1], ValueError("a row the database refuses")]

    assert Delivery()(order_ids) == [order_ids[0], order_ids[2]]

    assert inventory(order_ids) == ["done", "failed", "done"]
    [letter] = DeadLetter.objects.all()
    assert (letter.task_name, letter.args) == ("store.apply_inventory", [[order_ids[1]]])
    assert letter.exception == "ValueError: a row the database refuses"


def test_an_order_that_fails_for_now_gets_its_own_retry_and_the_others_are_done(
    customer, one_order_fails, monkeypatch
):
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    one_order_fails += [order_ids[1], ConnectionError("the database went away")]
    # The backoff's jitter may draw 0 s: this test's draws 30.
    monkeypatch.setattr(tasks_base, "retry_countdown", lambda **_: 30)

    assert Delivery(retries=1)(order_ids) == [order_ids[0], order_ids[2]]

    [retry] = retries_recorded()
    assert (retry.args, retry.retries) == ([[order_ids[1]]], 2)
    assert retry.not_before > timezone.now() + timedelta(seconds=25)
    effect = OrderSideEffect.objects.get(kind="inventory", order_id=order_ids[1])
    assert (effect.status, effect.open_attempts) == ("pending", 0)  # a retry is no attempt lost
    assert effect.deadline > retry.not_before
    assert not DeadLetter.objects.exists()


def test_an_order_past_its_last_retry_is_dead_lettered_alone(customer, one_order_fails, settings):
    settings.SHOPFLOW_TASK_MAX_RETRIES = 2
    order_ids = [place_order(customer)["id"] for _ in range(2)]
    one_order_fails += [order_ids[0], ConnectionError("the database went away")]

    assert Delivery(retries=2)(order_ids) == [order_ids[1]]

    assert inventory(order_ids) == ["failed", "done"]
    assert DeadLetter.objects.get().args == [[order_ids[0]]]
    assert not retries_recorded().exists()


def test_an_order_whose_attempts_all_lost_their_worker_fails_alone_not_run_again(
    customer, settings, ran
):
    """The poison order: each attempt killed its worker before it ended (counted in its
    row, committed before its work); the next is not started."""
    settings.SHOPFLOW_TASK_MAX_REDELIVERIES = 2
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    OrderSideEffect.objects.filter(kind="inventory", order_id=order_ids[1]).update(open_attempts=3)

    assert Delivery(redelivered=True)(order_ids) == [order_ids[0], order_ids[2]]

    assert ran == [order_ids[0], order_ids[2]]
    assert inventory(order_ids) == ["done", "failed", "done"]
    letter = DeadLetter.objects.get()
    assert letter.args == [[order_ids[1]]]
    assert letter.exception.startswith("SideEffectLost: 3 attempts lost their worker")


def test_each_attempt_is_counted_before_its_work_and_committed_apart_from_it(
    customer, one_order_fails
):
    """What a worker that dies in the work leaves: its attempt counted, its work undone."""
    order_id = place_order(customer)["id"]
    one_order_fails += [order_id, KeyboardInterrupt()]  # stands for the process dying

    with pytest.raises(KeyboardInterrupt):
        Delivery()([order_id])

    assert attempts(order_id) == 1
    assert inventory([order_id]) == ["pending"]


def test_a_message_counts_its_orders_attempts_in_one_statement(customer):
    order_ids = [place_order(customer)["id"] for _ in range(3)]

    with CaptureQueriesContext(connection) as queries:
        assert Delivery()(order_ids) == order_ids

    counts = [q["sql"] for q in queries.captured_queries if '"open_attempts" = (' in q["sql"]]
    assert len(counts) == 1


def test_orders_a_dead_worker_never_reached_go_out_alone_counted_once(customer, one_order_fails):
    """Its worker died at the first order: the others' attempts were counted with it, so
    none of the three can tell it was not the one in flight; each goes out alone."""
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    one_order_fails += [order_ids[0], KeyboardInterrupt()]  # stands for the process dying
    with pytest.raises(KeyboardInterrupt):
        Delivery()(order_ids)
    assert [attempts(order_id) for order_id in order_ids] == [1, 1, 1]

    assert Delivery(redelivered=True)(order_ids) == []

    assert sorted(retry.args for retry in retries_recorded()) == [[[i]] for i in order_ids]
    assert [attempts(order_id) for order_id in order_ids] == [1, 1, 1]
    assert inventory(order_ids) == ["pending", "pending", "pending"]


def test_a_message_delivered_again_resumes_where_its_work_stopped(customer):
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    assert Delivery()(order_ids[:1]) == order_ids[:1]  # the first, done before the loss

    assert Delivery(redelivered=True)(order_ids) == order_ids[1:]

    assert inventory(order_ids) == ["done", "done", "done"]
    assert not retries_recorded().exists()


def test_a_message_delivered_again_does_not_run_what_it_ended_before(customer, one_order_fails):
    """Its first run retried the first order and its worker died on the second: delivered
    again, it leaves the first to its retry (no second retry chain)."""
    order_ids = [place_order(customer)["id"] for _ in range(2)]
    one_order_fails += [order_ids[0], ConnectionError("the database went away")]
    assert Delivery()(order_ids[:1]) == []  # the same message id: its first run, in part

    one_order_fails[0] = None
    assert Delivery(redelivered=True)(order_ids) == order_ids[1:]

    [retry] = retries_recorded()
    assert retry.args == [[order_ids[0]]]
    assert inventory(order_ids) == ["pending", "done"]


def test_an_order_whose_last_attempt_lost_its_worker_goes_out_alone(customer, ran):
    """The others of its message do not wait on it: it may kill this worker too."""
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    OrderSideEffect.objects.filter(kind="inventory", order_id=order_ids[0]).update(open_attempts=1)

    assert Delivery(redelivered=True, retries=1)(order_ids) == order_ids[1:]

    assert ran == order_ids[1:]
    alone = retries_recorded().get()
    assert (alone.args, alone.retries) == ([order_ids[:1]], 1)
    assert alone.not_before <= timezone.now()
    assert attempts(order_ids[0]) == 1  # still counted: alone, it runs, counted again


def test_a_message_that_is_not_a_list_of_orders_is_dead_lettered():
    assert Delivery()(42) == []

    letter = DeadLetter.objects.get()
    assert (letter.task_name, letter.args) == ("store.apply_inventory", [42])
    assert letter.exception.startswith("TypeError: a side-effect message carries a list")


@pytest.mark.parametrize("carried", ["str", "dict"])
def test_a_message_not_a_list_fails_no_order_its_characters_or_keys_name(customer, carried):
    order_id = place_order(customer)["id"]
    payload = str(order_id) if carried == "str" else {str(order_id): 1}

    assert Delivery()(payload) == []

    assert DeadLetter.objects.get().args == [payload]
    assert inventory([order_id]) == ["pending"]


def test_an_order_named_twice_in_one_message_runs_once(customer, one_order_fails):
    order_id = place_order(customer)["id"]
    one_order_fails += [order_id, ConnectionError("the database went away")]

    assert Delivery()([order_id, order_id]) == []

    assert retries_recorded().get().args == [[order_id]]  # one retry, not two


def test_orders_past_the_run_budget_go_back_to_the_outbox_due_now(
    customer, monkeypatch, monotonic_clock, settings
):
    """The one run budget (worker.tasks_base.last_start_by: half the soft time limit, here
    0.5 s), spent by the first order (a second of the clock the test moves): the rest go
    back with the message's retries."""
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 1
    apply = stock.inventory_apply

    def slow(**kwargs):
        monotonic_clock.advance(1)
        return apply(**kwargs)

    monkeypatch.setattr(stock, "inventory_apply", slow)

    assert Delivery(retries=1)(order_ids) == order_ids[:1]

    again = retries_recorded().get()
    assert (again.args, again.retries) == ([order_ids[1:]], 1)
    assert again.not_before <= timezone.now()
    assert inventory(order_ids) == ["done", "pending", "pending"]
    assert [attempts(order_id) for order_id in order_ids[1:]] == [0, 0]


def test_a_retry_the_database_refuses_puts_the_message_back(customer, one_order_fails, monkeypatch):
    order_id = place_order(customer)["id"]
    one_order_fails += [order_id, ConnectionError("the broker went away")]
    monkeypatch.setattr(tasks_base, "REQUEUE_PAUSE_SECONDS", 0)

    def refused(*args, **kwargs):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(outbox, "retry_enqueue", refused)

    with pytest.raises(Reject) as rejected:
        Delivery()([order_id])
    assert rejected.value.requeue is True


def database_refuses(**kwargs):
    raise ConnectionError("the database went away")


def test_a_dead_letter_the_database_refuses_puts_the_message_back_after_a_pause(
    customer, one_order_fails, monkeypatch
):
    """Not at once: past its last retry the message comes back to the same path, and would
    spin while the database is away."""
    order_id = place_order(customer)["id"]
    one_order_fails += [order_id, ValueError("a bug: failed for good")]
    pauses = []
    monkeypatch.setattr(tasks_base.time, "sleep", pauses.append)

    monkeypatch.setattr(dead_letters, "dead_letter_record", database_refuses)

    with pytest.raises(Reject) as rejected:
        Delivery()([order_id])
    assert rejected.value.requeue is True
    assert pauses == [tasks_base.REQUEUE_PAUSE_SECONDS]
    assert inventory([order_id]) == ["pending"]


def test_a_soft_time_limit_in_the_pause_still_puts_the_message_back(
    customer, one_order_fails, monkeypatch
):
    """Raised out of the pause, it would skip the Reject: the message acknowledged as
    failed, with neither a retry nor a dead letter."""
    order_id = place_order(customer)["id"]
    one_order_fails += [order_id, ValueError("a bug: failed for good")]

    def soft_limit(seconds):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(tasks_base.time, "sleep", soft_limit)
    monkeypatch.setattr(dead_letters, "dead_letter_record", database_refuses)

    with pytest.raises(Reject) as rejected:
        Delivery()([order_id])
    assert rejected.value.requeue is True
