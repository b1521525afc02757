"""The webhooks worker as make run and docker-compose start it (`celery worker -Q webhooks
--pool threads`), a real process on a broker of the test's own, woken by the dispatcher:
an endpoint that never answers holds four of its threads, no more, while a healthy
endpoint's deliveries go by as fast as alone; SIGKILLed with requests in flight, and Redis
restarted without its data (no message left of any of them), the worker loses none: each
is sent again under its id once its job's lease is over, the deliveries that waited for
their slots too."""

import time

import pytest

from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, dispatcher_thread, subprocess_env
from tests.support.webhooks import WebhookReceiver, hook, status_of
from webhooks.models import JOB_KIND, Delivery, Endpoint
from webhooks.services.deliveries import endpoint_test_send
from worker.models import Job

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def received_within(receiver, path: str, count: int, since: float) -> float:
    wait_until(lambda: len(receiver.at(path)) >= count, timeout=15, message=f"{path} #{count}")
    return receiver.at(path)[count - 1].at - since


def webhooks_worker(env: dict[str, str], log) -> WorkerProcess:
    """The webhooks queue's worker as the deployments run it, on 8 threads."""
    return WorkerProcess(env, log, concurrency=8, queues="webhooks", pool="threads").start()


def all_delivered(delivery_ids: list[str], worker: WorkerProcess, timeout: float) -> None:
    wait_until(
        lambda: {status_of(pk) for pk in delivery_ids} == {"delivered"},
        timeout=timeout,
        message=f"every delivery delivered; log:\n{worker.output()[-3000:]}",
    )


def four_held_two_waiting(receiver, hanging: Endpoint) -> list[str]:
    """Six deliveries to an endpoint that answers none: four requests held, two waiting
    (their jobs due, none leased)."""
    receiver.behave("/hanging", hold=True)
    stuck = [endpoint_test_send(endpoint_id=hanging.pk).key for _ in range(6)]
    waiting = Job.objects.filter(kind=JOB_KIND, key__in=stuck, lease_id__isnull=True)
    wait_until(
        lambda: len(receiver.at("/hanging")) == 4 and waiting.count() == 2,
        timeout=15,
        message="four requests held, two deliveries waiting",
    )
    return stuck


def healthy_beside_hanging(receiver, hanging: Endpoint, healthy: Endpoint) -> list[str]:
    """Six deliveries to an endpoint that answers none: four requests held, two waiting;
    the healthy endpoint's deliveries meanwhile as fast as one alone, within a second."""
    started = time.monotonic()
    endpoint_test_send(endpoint_id=healthy.pk)
    alone = received_within(receiver, "/healthy", 1, started)

    stuck = four_held_two_waiting(receiver, hanging)
    for n in range(2, 7):
        started = time.monotonic()
        endpoint_test_send(endpoint_id=healthy.pk)
        beside = received_within(receiver, "/healthy", n, started)
        assert beside < alone + 1.0, (n, alone, beside)
    assert receiver.most_in_flight["/hanging"] == 4
    assert len(receiver.at("/hanging")) == 4
    return stuck


def test_a_hanging_endpoint_holds_four_threads_and_a_killed_worker_loses_none(
    own_redis, tmp_path, settings
):
    settings.SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK = True
    env = subprocess_env(
        CELERY_BROKER_URL=own_redis.url,
        SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK=1,
        # A job's lease of 25 s (production's 75): a killed attempt's delivery is taken up
        # again in seconds; the windows' checks hold (the time limit and the re-wake within).
        SHOPFLOW_JOB_LEASE_SECONDS=25,
        CELERY_TASK_TIME_LIMIT=20,
        SHOPFLOW_WAKE_AGAIN_SECONDS=10,
    )

    with WebhookReceiver() as receiver, dispatcher_thread():
        first = webhooks_worker(env, tmp_path / "first.log")
        hanging, healthy = hook(receiver, "/hanging"), hook(receiver, "/healthy")
        stuck = healthy_beside_hanging(receiver, hanging, healthy)

        first.kill()  # four requests in flight
        own_redis.stop()
        own_redis.start()  # empty: whatever wake-up was queued is gone too
        receiver.behave("/hanging", hold=False, status=200)
        receiver.released.set()  # the held requests answer a worker that is gone
        second = webhooks_worker(env, tmp_path / "second.log")
        try:
            all_delivered(stuck, second, timeout=120)
        finally:
            second.stop()

    requests = receiver.at("/hanging")
    assert {r.id for r in requests} == set(stuck)
    killed = {r.id for r in requests[:4]}
    assert sorted(r.id for r in requests[4:]) == sorted(stuck)  # each sent once more
    for request in requests:
        assert request.verified_by == [hanging.secret]
    for delivery in Delivery.objects.filter(key__in=killed):
        # The killed attempts left no record: each delivered at its recorded first.
        assert [a.status_code for a in delivery.attempt_records.all()] == [200]
