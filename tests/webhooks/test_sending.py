"""Attempts at a delivery against a real receiver on loopback that verifies each request
with the Standard Webhooks reference library; the worker's part (a run of webhooks.deliver,
a kind of job) run here, the clock of the schedule moved by the test
(tests.support.webhooks.due_now). What becomes of an endpoint that fails, is disabled or
is deleted: tests/webhooks/test_endpoint_health.py."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from core.clock import db_now
from notifications.models import Notification
from webhooks.models import JOB_KIND, Attempt, Endpoint
from webhooks.services.deliveries import delivery_redeliver, endpoint_test_send
from webhooks.services.sending import SCHEDULE, retry_wait
from webhooks.signatures import secret_new
from webhooks.tasks import deliver
from worker.jobs import jobs_claim, jobs_release
from worker.models import Job
from worker.tasks_base import job_tasks

from ..support.webhooks import attempt_due, attempts_of, due_now, hook, job_of, status_of

pytestmark = pytest.mark.django_db


def test_a_delivery_is_signed_as_the_reference_library_checks_and_delivered_once(receiver):
    endpoint = hook(receiver)
    delivery = endpoint_test_send(endpoint_id=endpoint.pk)
    assert job_tasks()[JOB_KIND].name == "webhooks.deliver"
    assert (job_of(delivery.key).concurrency_key, deliver.concurrency) == (str(endpoint.pk), 4)

    assert attempt_due() == [delivery.key]
    assert attempt_due() == []  # a second wake-up (published twice): nothing due

    [request] = receiver.at("/hook")
    assert request.verified_by == [endpoint.secret]
    assert request.id == delivery.key
    assert request.headers["content-type"] == "application/json"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 30
    assert request.event == {
        "type": "webhook.test",
        "timestamp": delivery.payload["timestamp"],  # when the event happened
        "data": {"endpoint_id": endpoint.pk, "message": "A test event from Shopflow."},
    }
    happened = datetime.fromisoformat(request.event["timestamp"])
    assert abs((happened - delivery.created_at).total_seconds()) < 1
    job = job_of(delivery.key)
    assert (job.status, job.attempts, job.leased_until, status_of(delivery.key)) == (
        "done",
        1,
        None,
        "delivered",
    )
    [attempt] = attempts_of(delivery.key)
    assert (attempt.status_code, attempt.error) == (200, "")


def test_failures_are_retried_on_the_schedule_then_fail_for_good_and_staff_are_told(
    receiver, staff_user
):
    endpoint = hook(receiver)
    receiver.behave("/hook", status=500)
    delivery = endpoint_test_send(endpoint_id=endpoint.pk)

    for tries, wait in enumerate(SCHEDULE, start=1):
        assert attempt_due() == []
        job, last = job_of(delivery.key), attempts_of(delivery.key)[-1]
        assert (job.status, job.attempts, status_of(delivery.key)) == ("pending", tries, "pending")
        assert last.status_code == 500 and last.error.startswith("HTTP 500")
        waits = (job.due_at - last.at).total_seconds()
        assert wait - 2 < waits <= wait + 1, (tries, waits)
        assert attempt_due() == []  # not due yet: no request
        assert len(receiver.at("/hook")) == tries
        due_now(delivery.key)
    assert attempt_due() == []

    requests = receiver.at("/hook")
    assert len(requests) == 8
    assert {r.id for r in requests} == {delivery.key}  # one webhook-id on every attempt
    assert all(r.verified_by == [endpoint.secret] for r in requests)
    job = job_of(delivery.key)
    assert (job.status, job.attempts, len(attempts_of(delivery.key))) == ("failed", 8, 8)
    assert status_of(delivery.key) == "failed"
    [told] = Notification.objects.filter(recipient=staff_user)
    assert told.kind == "side_effect_failed"
    assert f"Webhook {delivery.key} to {endpoint.url} failed for good" in told.message
    assert "8 attempts failed, the last: HTTP 500" in told.message
    assert Endpoint.objects.get(pk=endpoint.pk).failing_since is not None


@pytest.mark.parametrize(
    ("attempts", "status", "retry_after", "wait"),
    [
        (1, 500, 0, 5),  # the schedule
        (1, 503, 0, 60),  # busy: a minute at least
        (1, 429, 120, 60),  # its Retry-After up to twice the schedule's 5 s, and a minute
        (2, 429, 120, 300),  # never sooner than the schedule
        (3, 429, 3000, 3000),  # honoured: under twice the schedule's 30 min
        (3, 503, 99999, 3600),  # up to twice the schedule's
        (7, 500, 0, 36000),
    ],
)
def test_the_wait_after_an_attempt_is_the_schedule_and_a_busy_receiver_waits_longer(
    attempts, status, retry_after, wait
):
    from webhooks.services.sending import AttemptFailed

    failed = AttemptFailed(Attempt(status_code=status, error="HTTP"), retry_after=retry_after)
    assert retry_wait(attempts=attempts, error=failed) == wait
    assert deliver.retry_wait(attempts=attempts, error=failed) == wait


def test_a_429_with_retry_after_120_is_not_tried_again_within_a_minute(receiver):
    """The first wait (5 s on the schedule) becomes a minute; its Retry-After is honoured
    up to twice the schedule's wait, 10 s here."""
    endpoint = hook(receiver)
    receiver.behave("/hook", status=429, headers={"Retry-After": "120"})
    delivery = endpoint_test_send(endpoint_id=endpoint.pk)

    assert attempt_due() == []
    [attempt] = attempts_of(delivery.key)
    waits = (job_of(delivery.key).due_at - attempt.at).total_seconds()
    assert 58 < waits <= 61
    assert attempt.status_code == 429 and job_of(delivery.key).attempts == 1
    assert attempt_due() == [] and len(receiver.at("/hook")) == 1  # not due: no request


@pytest.mark.parametrize("form", ["seconds", "date", "lower-case name"])
def test_a_busy_receivers_retry_after_is_honoured_in_any_form(receiver, form):
    """At the third attempt (30 min on the schedule, so up to an hour of Retry-After):
    seconds or an HTTP date, its name in any case."""
    in_3000 = datetime.now(UTC) + timedelta(seconds=3000)
    retry_after = in_3000.strftime("%a, %d %b %Y %H:%M:%S GMT") if form == "date" else "3000"
    name = "retry-after" if form == "lower-case name" else "Retry-After"
    endpoint = hook(receiver)
    receiver.behave("/hook", status=503, headers={name: retry_after})
    delivery = endpoint_test_send(endpoint_id=endpoint.pk)
    Job.objects.filter(key=delivery.key).update(attempts=2)  # two failed before

    assert attempt_due() == []
    [attempt] = attempts_of(delivery.key)
    waits = (job_of(delivery.key).due_at - attempt.at).total_seconds()
    assert 2990 < waits <= 3001
    assert attempt_due() == [] and len(receiver.at("/hook")) == 1  # not due: no request


def test_after_a_rotation_both_secrets_sign_for_the_overlap_then_the_new_one_alone(receiver, staff):
    endpoint = hook(receiver)
    old = endpoint.secret
    new = staff.post(f"/api/webhooks/endpoints/{endpoint.pk}/rotate-secret/").json()["secret"]
    receiver.behave("/hook", secrets=[old, new])
    during = endpoint_test_send(endpoint_id=endpoint.pk)
    assert attempt_due() == [during.key]

    # The overlap's 24 hours have passed.
    Endpoint.objects.filter(pk=endpoint.pk).update(previous_secret_until=db_now(plus_seconds=-1))
    after = endpoint_test_send(endpoint_id=endpoint.pk)
    assert attempt_due() == [after.key]

    first, second = receiver.at("/hook")
    assert first.verified_by == [old, new]
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    assert second.verified_by == [new]  # the old secret verifies it no more


def test_an_address_is_checked_at_each_attempt_and_the_request_goes_to_the_one_approved(
    receiver, dns, settings
):
    """Saved when its name was public, the endpoint's name now answers a private address:
    refused before connecting. And a name is looked up once per attempt: the request
    connects to the address the check approved, not to a second answer."""
    settings.SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK = False
    endpoint = Endpoint.objects.create(
        url="https://hooks.example.net/shop", events=["order.created"], secret=secret_new()
    )
    for private in (["10.0.0.5"], ["169.254.169.254"], ["93.184.216.34", "192.168.0.9"]):
        dns["hooks.example.net"] = private
        delivery = endpoint_test_send(endpoint_id=endpoint.pk)
        assert attempt_due() == []
        [attempt] = attempts_of(delivery.key)
        assert attempt.status_code is None
        assert attempt.error == "refused: The endpoint's host is not on the public internet."
        assert status_of(delivery.key) == "pending"  # tried again on the schedule

    settings.SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK = True
    dns["receiver.test"] = ["127.0.0.1"]  # a name no real DNS answers
    pinned = hook(receiver, "/pinned")
    Endpoint.objects.filter(pk=pinned.pk).update(url=f"http://receiver.test:{receiver.port}/pinned")
    delivery = endpoint_test_send(endpoint_id=pinned.pk)
    assert attempt_due() == [delivery.key]
    [request] = receiver.at("/pinned")
    assert request.headers["host"] == f"receiver.test:{receiver.port}"
    assert request.verified_by == [pinned.secret]


def test_an_endpoint_has_four_attempts_going_at_most_and_another_endpoint_goes_by(receiver):
    endpoint, other = hook(receiver), hook(receiver, "/other")
    ids = [endpoint_test_send(endpoint_id=endpoint.pk).key for _ in range(6)]
    # Four attempts under way, each a run's claim (one job a run: webhooks.deliver's batch).
    going = [job for _ in range(6) for job in jobs_claim(kind=JOB_KIND, limit=1, concurrency=4)]
    assert deliver.batch == 1 and [job.key for job in going] == ids[:4]

    beside = endpoint_test_send(endpoint_id=other.pk).key
    assert attempt_due() == [beside]  # the other endpoint's, past the two that wait
    assert attempt_due() == []  # the two wait for a slot
    assert receiver.at("/hook") == []

    jobs_release(jobs=going[:1])  # one attempt gives its slot back: it goes again
    assert attempt_due() == [ids[0]]
    assert attempt_due() == [ids[4]]  # that one ended: its slot to the one waiting longest
    assert attempt_due() == [ids[5]]
    assert attempt_due() == []  # three still under way
    assert [r.id for r in receiver.at("/hook")] == [ids[0], ids[4], ids[5]]


def test_an_attempt_whose_worker_died_is_made_again_under_its_id_and_left_no_record(receiver):
    endpoint = hook(receiver)
    delivery = endpoint_test_send(endpoint_id=endpoint.pk).key
    [lost] = jobs_claim(kind=JOB_KIND, limit=1, concurrency=deliver.concurrency)
    assert attempt_due() == []  # held by the attempt under way
    Job.objects.filter(pk=lost.pk).update(leased_until=db_now(plus_seconds=-1))  # it died

    assert attempt_due() == [delivery]
    [request] = receiver.at("/hook")
    assert request.id == delivery
    assert [a.status_code for a in attempts_of(delivery)] == [200]  # the lost one: none
    assert job_of(delivery).attempts == 2


def test_the_events_trace_goes_on_into_its_attempts(receiver, monkeypatch):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from core import telemetry

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    monkeypatch.setattr(telemetry, "_tracer", tracer)
    endpoint = hook(receiver)
    with tracer.start_as_current_span("checkout") as checkout:
        delivery = endpoint_test_send(endpoint_id=endpoint.pk)
    with tracer.start_as_current_span("another trace"):  # the wake-up's, say
        assert attempt_due() == [delivery.key]

    [span] = [s for s in exporter.get_finished_spans() if s.name == "job webhook_delivery"]
    assert span.context.trace_id == checkout.get_span_context().trace_id
    assert span.parent.span_id == checkout.get_span_context().span_id


def test_an_attempt_that_fails_for_good_fails_its_delivery_and_a_redeliver_opens_it(
    receiver, staff_user, monkeypatch
):
    """A bug in the attempt (not a failed request): failed at once, staff told, no
    attempt recorded; a redeliver starts a new round under the same id."""
    from webhooks.services import sending

    endpoint = hook(receiver)
    delivery = endpoint_test_send(endpoint_id=endpoint.pk).key

    def broken(delivery, endpoint):
        raise RuntimeError("a bug")

    with monkeypatch.context() as patched:
        patched.setattr(sending, "_post", broken)
        assert attempt_due() == []

    job = job_of(delivery)
    assert (job.status, job.leased_until, status_of(delivery)) == ("failed", None, "failed")
    assert "RuntimeError: a bug" in job.last_error
    assert attempts_of(delivery) == []
    assert Notification.objects.filter(recipient=staff_user, message__contains="a bug").exists()

    assert delivery_redeliver(delivery_id=delivery).delivery_status == "pending"
    assert (job_of(delivery).status, job_of(delivery).attempts) == ("pending", 0)
    assert attempt_due() == [delivery]
    assert [r.id for r in receiver.at("/hook")] == [delivery]


def test_a_receiver_that_trickles_its_answer_is_cut_at_the_requests_deadline(settings, monkeypatch):
    """A byte a second, each within any read timeout: the whole request is cut (15 s in
    production, 2 here), recorded as a failed attempt and retried on the schedule."""
    from webhooks.services import sending

    from ..support.trickle import TrickleServer

    settings.SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK = True
    monkeypatch.setattr(sending, "REQUEST_SECONDS", 2.0)
    with TrickleServer(b"HTTP/1.1 200 OK\r\n") as server:
        endpoint = Endpoint.objects.create(
            url=f"http://127.0.0.1:{server.port}/hook",
            events=["order.created"],
            secret=secret_new(),
        )
        delivery = endpoint_test_send(endpoint_id=endpoint.pk)
        assert attempt_due() == []
    [attempt] = attempts_of(delivery.key)
    assert attempt.status_code is None
    assert attempt.error == (
        f"DeadlineExceeded: the webhook request to endpoint {endpoint.pk}: "
        "cut at its 2.0 s deadline"
    )
    assert 2000 <= attempt.duration_ms <= 4000
    assert status_of(delivery.key) == "pending"
