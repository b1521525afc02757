"""SideEffectTask with a message of several orders: a batch that raises is done order by
order, one that lost its worker or hit the hard time limit goes out again an order a
message (the real broker path: tests/integration/test_batches.py, tests/e2e)."""

import time

import pytest
from celery.exceptions import Reject, TimeLimitExceeded

from side_effects import base
from side_effects.models import OrderSideEffect
from store import tasks as store_tasks
from store.services import stock
from tests.support.orders import place_order
from worker.models import DeadLetter

pytestmark = pytest.mark.django_db


def inventory(order_ids) -> list[str]:
    found = dict(
        OrderSideEffect.objects.filter(kind="inventory", order_id__in=order_ids).values_list(
            "order_id", "status"
        )
    )
    return [found[order_id] for order_id in order_ids]


class Delivery:
    """A delivery of `apply_inventory` by a worker (not a direct call): its request."""

    def __init__(self, *, redelivered=False, retries=0):
        self.request = {
            "id": "4c0ffee0-0000-0000-0000-00000000000b",
            "called_directly": False,
            "retries": retries,
            "delivery_info": {"redelivered": redelivered, "routing_key": "inventory"},
        }

    def __call__(self, *args):
        store_tasks.apply_inventory.push_request(**self.request)
        try:
            return store_tasks.apply_inventory(*args)
        finally:
            store_tasks.apply_inventory.pop_request()


@pytest.fixture
def published(monkeypatch) -> list:
    sent = []
    monkeypatch.setattr(base, "publish_each_now", lambda task, args: sent.append((task.name, args)))
    return sent


def test_a_batch_that_raises_is_done_order_by_order_and_the_poison_one_fails_alone(
    customer, monkeypatch
):
    order_ids = [place_order(customer)["id"] for _ in range(3)]
    poison = order_ids[1]
    real_apply = stock.inventory_apply

    def poisoned(*, order_ids):
        if poison in order_ids:
            raise ValueError("a row the database refuses")
        return real_apply(order_ids=order_ids)

    monkeypatch.setattr(stock, "inventory_apply", poisoned)

    assert Delivery()(order_ids) == [order_ids[0], order_ids[2]]

    assert inventory(order_ids) == ["done", "failed", "done"]
    [letter] = DeadLetter.objects.all()
    assert (letter.task_name, letter.args) == ("store.apply_inventory", [[poison]])
    assert letter.exception == "ValueError: a row the database refuses"


def test_a_batch_delivered_again_goes_out_an_order_a_message(customer, published):
    order_ids = [place_order(customer)["id"] for _ in range(2)]

    assert Delivery(redelivered=True)(order_ids) == []

    assert published == [("store.apply_inventory", [[[order_ids[0]]], [[order_ids[1]]]])]
    assert inventory(order_ids) == ["pending", "pending"]  # their own messages do them


def test_a_split_the_broker_refuses_puts_the_message_back(customer, monkeypatch):
    def refused(task, args):
        raise ConnectionError("the broker is down")

    monkeypatch.setattr(base, "publish_each_now", refused)

    with pytest.raises(Reject) as rejected:
        Delivery(redelivered=True)([1, 2])
    assert rejected.value.requeue is True


def test_one_order_delivered_again_runs_with_its_redelivery_counted(customer, published):
    order_id = place_order(customer)["id"]

    assert Delivery(redelivered=True)([order_id]) == [order_id]
    assert published == []


def test_a_batch_killed_at_the_hard_time_limit_goes_out_an_order_a_message(published):
    store_tasks.apply_inventory.on_failure(TimeLimitExceeded(120), "t-hard", [[4, 5]], {}, None)

    assert published == [("store.apply_inventory", [[[4]], [[5]]])]
    assert not DeadLetter.objects.exists()


def test_one_order_killed_at_the_hard_time_limit_is_dead_lettered(customer, published):
    order_id = place_order(customer)["id"]

    store_tasks.apply_inventory.on_failure(TimeLimitExceeded(120), "t-hard", [[order_id]], {}, None)

    assert published == []
    assert DeadLetter.objects.get().args == [[order_id]]
    assert inventory([order_id]) == ["failed"]


def test_a_batch_whose_failure_used_its_time_up_retries_every_order_with_backoff(
    customer, monkeypatch, settings
):
    """A worker holds a message no longer than a task may run, whatever its pool (the
    email worker's threads enforce no time limit): past half its soft time limit no order
    starts alone, and the batch's failure is each order's (a retry, counted)."""
    from celery.exceptions import Retry

    from worker.models import OutboxMessage

    settings.CELERY_TASK_SOFT_TIME_LIMIT = 0.2
    order_ids = [place_order(customer)["id"] for _ in range(2)]
    calls = []

    def slow_then_failing(*, order_ids):
        calls.append(order_ids)
        time.sleep(0.15)  # the batch's work taking its time is the point: no state to poll
        raise ConnectionError("the database went away")

    monkeypatch.setattr(stock, "inventory_apply", slow_then_failing)

    with pytest.raises(Retry):
        Delivery(retries=2)(order_ids)

    assert calls == [order_ids]  # the batch, and no order alone after it
    retry = OutboxMessage.objects.get(task_name="store.apply_inventory", args=[order_ids])
    assert retry.retries == 3
    assert inventory(order_ids) == ["pending", "pending"]


def test_a_batch_whose_permanent_failure_used_its_time_up_fails_no_order_each_goes_apart(
    customer, monkeypatch, settings, published
):
    """A permanent failure may be one order's (a recipient refused for good): with no time
    left to find which, no order is dead-lettered for it; each goes out in a message of
    its own, to succeed or fail alone."""
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 0.2
    order_ids = [place_order(customer)["id"] for _ in range(2)]

    def slow_then_refused(*, order_ids):
        time.sleep(0.15)  # the batch's work taking its time is the point: no state to poll
        raise ValueError("one order's data the service refuses")

    monkeypatch.setattr(stock, "inventory_apply", slow_then_refused)

    assert Delivery(retries=0)(order_ids) == []

    assert published == [("store.apply_inventory", [[[order_id]] for order_id in order_ids])]
    assert not DeadLetter.objects.exists()
    assert inventory(order_ids) == ["pending", "pending"]


def test_orders_a_run_had_no_time_for_go_out_again_at_once_their_retries_untouched(
    customer, monkeypatch, settings
):
    """The first order alone uses the time up: the second did not fail, it goes again."""
    from worker.models import OutboxMessage

    settings.CELERY_TASK_SOFT_TIME_LIMIT = 0.2
    order_ids = [place_order(customer)["id"] for _ in range(2)]
    real_apply = stock.inventory_apply

    def batch_fails_first_is_slow(*, order_ids):
        if len(order_ids) > 1:
            raise ConnectionError("the database went away")
        time.sleep(0.15)  # a slow order, on purpose: it uses the run's time up
        return real_apply(order_ids=order_ids)

    monkeypatch.setattr(stock, "inventory_apply", batch_fails_first_is_slow)

    assert Delivery(retries=2)(order_ids) == [order_ids[0]]

    again = OutboxMessage.objects.get(task_name="store.apply_inventory", retries=2)
    assert again.args == [[order_ids[1]]] and again.not_before is not None
    assert inventory(order_ids) == ["done", "pending"]
    assert not DeadLetter.objects.exists()
