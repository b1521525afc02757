"""Attempts at a delivery against a real receiver on loopback that verifies each request
with the Standard Webhooks reference library; the worker's part (the task) run here, the
clock of the schedule moved by the test (tests.support.webhooks.due_now)."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from core.clock import db_now
from notifications.models import Notification
from webhooks.models import Delivery, Endpoint
from webhooks.services.deliveries import endpoint_test_send
from webhooks.services.sending import SCHEDULE
from webhooks.signatures import secret_new
from worker.models import OutboxMessage

from ..support.webhooks import due_now, hook, time_passes, wake

pytestmark = pytest.mark.django_db


def test_a_delivery_is_signed_as_the_reference_library_checks_and_delivered_once(receiver):
    endpoint = hook(receiver)
    delivery = endpoint_test_send(endpoint_id=endpoint.pk)

    assert wake(delivery.pk) == "delivered"
    assert wake(delivery.pk) == "ended"  # a second message (published twice): nothing

    [request] = receiver.at("/hook")
    assert request.verified_by == [endpoint.secret]
    assert request.id == delivery.pk
    assert request.headers["content-type"] == "application/json"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 30
    assert request.event == {
        "type": "webhook.test",
        "timestamp": delivery.created_at.isoformat().replace("+00:00", "Z"),
        "data": {"endpoint_id": endpoint.pk, "message": "A test event from Shopflow."},
    }
    row = Delivery.objects.get(pk=delivery.pk)
    assert (row.status, row.tries, row.next_attempt_at, row.leased_until) == (
        "delivered",
        1,
        None,
        None,
    )
    [attempt] = row.attempts.all()
    assert (attempt.status_code, attempt.error) == (200, "")


def test_failures_are_retried_on_the_schedule_then_fail_for_good_and_staff_are_told(
    receiver, staff_user
):
    endpoint = hook(receiver)
    receiver.behave("/hook", status=503)
    delivery = endpoint_test_send(endpoint_id=endpoint.pk)

    for tries, wait in enumerate(SCHEDULE, start=1):
        assert wake(delivery.pk) == "retry"
        row = Delivery.objects.get(pk=delivery.pk)
        last = row.attempts.latest("at")
        assert row.tries == tries and last.status_code == 503 and last.error.startswith("HTTP 503")
        waits = (row.next_attempt_at - last.at).total_seconds()
        assert wait - 2 < waits <= wait + 1, (tries, waits)
        retry = OutboxMessage.objects.filter(args=[delivery.pk], retries=tries).get()
        assert abs((retry.not_before - row.next_attempt_at).total_seconds()) < 1
        assert wake(delivery.pk) == "not due"  # an early message sends nothing
        due_now(delivery.pk)
    assert wake(delivery.pk) == "failed"

    requests = receiver.at("/hook")
    assert len(requests) == 8
    assert {r.id for r in requests} == {delivery.pk}  # one webhook-id on every attempt
    assert all(r.verified_by == [endpoint.secret] for r in requests)
    row = Delivery.objects.get(pk=delivery.pk)
    assert (row.status, row.tries, row.attempts.count()) == ("failed", 8, 8)
    [told] = Notification.objects.filter(recipient=staff_user)
    assert told.kind == "side_effect_failed"
    assert f"Webhook {delivery.pk} to {endpoint.url} failed for good" in told.message
    assert Endpoint.objects.get(pk=endpoint.pk).failing_since is not None


def test_410_disables_the_endpoint_fails_what_waits_for_it_and_tells_staff(receiver, staff_user):
    endpoint = hook(receiver)
    receiver.behave("/hook", status=410)
    gone, waiting = (endpoint_test_send(endpoint_id=endpoint.pk) for _ in range(2))

    assert wake(gone.pk) == "failed"
    assert wake(waiting.pk) == "ended"

    assert len(receiver.at("/hook")) == 1
    row = Endpoint.objects.get(pk=endpoint.pk)
    assert (row.enabled, row.disabled_reason) == (False, "it answered 410 Gone")
    assert set(Delivery.objects.values_list("status", flat=True)) == {"failed"}
    [told] = Notification.objects.filter(recipient=staff_user)
    assert told.message == f"Webhook endpoint {endpoint.url} disabled: it answered 410 Gone"


def test_after_a_rotation_both_secrets_sign_for_the_overlap_then_the_new_one_alone(receiver, staff):
    endpoint = hook(receiver)
    old = endpoint.secret
    new = staff.post(f"/api/webhooks/endpoints/{endpoint.pk}/rotate-secret/").json()["secret"]
    receiver.behave("/hook", secrets=[old, new])
    during = endpoint_test_send(endpoint_id=endpoint.pk)
    assert wake(during.pk) == "delivered"

    # The overlap's 24 hours have passed.
    Endpoint.objects.filter(pk=endpoint.pk).update(previous_secret_until=db_now(plus_seconds=-1))
    after = endpoint_test_send(endpoint_id=endpoint.pk)
    assert wake(after.pk) == "delivered"

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
        assert wake(delivery.pk) == "retry"
        [attempt] = Delivery.objects.get(pk=delivery.pk).attempts.all()
        assert attempt.status_code is None
        assert attempt.error == "refused: The endpoint's host is not on the public internet."

    settings.SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK = True
    dns["receiver.test"] = ["127.0.0.1"]  # a name no real DNS answers
    pinned = hook(receiver, "/pinned")
    Endpoint.objects.filter(pk=pinned.pk).update(url=f"http://receiver.test:{receiver.port}/pinned")
    assert wake(endpoint_test_send(endpoint_id=pinned.pk).pk) == "delivered"
    [request] = receiver.at("/pinned")
    assert request.headers["host"] == f"receiver.test:{receiver.port}"
    assert request.verified_by == [pinned.secret]


def test_an_endpoint_has_four_attempts_going_at_most_and_the_next_waits_for_one_to_end(
    receiver,
):
    endpoint = hook(receiver)
    d1, d2, d3, d4, d5, d6 = (endpoint_test_send(endpoint_id=endpoint.pk) for _ in range(6))
    held = Delivery.objects.filter(pk__in=[d1.pk, d2.pk, d3.pk, d4.pk])
    held.update(leased_until=db_now(plus_seconds=30))  # four attempts under way

    assert wake(d1.pk) == "in flight"  # its own message again: looked at when its lease ends
    looked_again = OutboxMessage.objects.filter(args=[d1.pk], published_at__isnull=True).latest(
        "id"
    )
    assert 25 < (looked_again.not_before - timezone.now()).total_seconds() <= 31
    assert [wake(d5.pk), wake(d6.pk)] == ["waiting", "waiting"]
    assert receiver.at("/hook") == []

    # The worker of d1 died: its lease runs out, and its message, given back, claims it.
    Delivery.objects.filter(pk=d1.pk).update(leased_until=db_now(plus_seconds=-1))
    assert wake(d1.pk) == "delivered"
    # Its end woke d5, which waited longest, and d5's end wakes d6.
    assert list(Delivery.objects.filter(waiting=True).values_list("pk", flat=True)) == [d6.pk]
    woken = OutboxMessage.objects.filter(args=[d5.pk], not_before__isnull=False)
    assert woken.count() == 1 and woken.get().not_before <= timezone.now() + timedelta(seconds=1)
    assert wake(d5.pk) == "delivered"
    assert not Delivery.objects.filter(waiting=True).exists()
    assert wake(d6.pk) == "delivered"
    assert [r.id for r in receiver.at("/hook")] == [d1.pk, d5.pk, d6.pk]


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
    with tracer.start_as_current_span("another trace"):  # the message's, say
        assert wake(delivery.pk) == "delivered"

    [span] = [s for s in exporter.get_finished_spans() if s.name == "webhook webhook.test"]
    assert span.context.trace_id == checkout.get_span_context().trace_id
    assert span.parent.span_id == checkout.get_span_context().span_id


def test_metrics_show_attempts_ended_and_pending_deliveries_by_endpoint(
    receiver, staff_user, django_capture_on_commit_callbacks
):
    from django.test import Client

    from tests.support.metrics import Metrics

    endpoint, failing = hook(receiver), hook(receiver, "/failing")
    receiver.behave("/failing", status=500)
    with django_capture_on_commit_callbacks(execute=True):  # counted once committed
        assert wake(endpoint_test_send(endpoint_id=endpoint.pk).pk) == "delivered"
        assert wake(endpoint_test_send(endpoint_id=failing.pk).pk) == "retry"
    Delivery.objects.filter(endpoint=failing).update(
        created_at=timezone.now() - timedelta(minutes=3)
    )

    ops = Client()
    ops.force_login(staff_user)
    scraped = Metrics(ops.get("/metrics").content.decode())
    ok, bad = str(endpoint.pk), str(failing.pk)
    assert scraped.value("shopflow_webhook_attempt_seconds_count", endpoint=ok) >= 1
    assert (
        scraped.value("shopflow_webhook_deliveries_ended_total", endpoint=ok, status="delivered")
        >= 1
    )
    assert scraped.value("shopflow_webhook_deliveries_pending", endpoint=bad) == 1
    assert scraped.value("shopflow_webhook_deliveries_pending", endpoint=ok) is None
    assert 170 < scraped.value("shopflow_webhook_oldest_pending_age_seconds", endpoint=bad) < 400


def test_an_endpoint_failing_for_five_days_is_disabled_and_one_success_resets_the_count(
    receiver, staff_user
):
    from webhooks.tasks import disable_failing_endpoints

    flaky, dead = hook(receiver, "/flaky"), hook(receiver, "/dead")
    receiver.behave("/dead", status=500)
    receiver.behave("/flaky", status=500)
    for endpoint in (flaky, dead):
        assert wake(endpoint_test_send(endpoint_id=endpoint.pk).pk) == "retry"
    receiver.behave("/flaky", status=204)
    assert wake(endpoint_test_send(endpoint_id=flaky.pk).pk) == "delivered"
    five_days_ago = timezone.now() - timedelta(days=5, minutes=1)
    Endpoint.objects.filter(failing_since__isnull=False).update(failing_since=five_days_ago)

    assert disable_failing_endpoints.apply().get() == 1
    assert Endpoint.objects.get(pk=flaky.pk).enabled
    dead.refresh_from_db()
    assert (dead.enabled, dead.disabled_reason) == (False, "every attempt failed for 5 days")
    assert Delivery.objects.get(endpoint=dead).status == "failed"
    [told] = Notification.objects.filter(recipient=staff_user)
    assert told.message.endswith("disabled: every attempt failed for 5 days")


def test_a_task_that_fails_for_good_fails_its_delivery_and_its_requeue_opens_it(
    receiver, staff_user, monkeypatch
):
    from webhooks.services import sending
    from worker.dead_letters import dead_letters_requeue
    from worker.models import DeadLetter

    endpoint = hook(receiver)
    delivery, waiting = (endpoint_test_send(endpoint_id=endpoint.pk) for _ in range(2))
    Delivery.objects.filter(pk=waiting.pk).update(waiting=True)

    def broken(delivery, endpoint):
        raise RuntimeError("a bug")

    monkeypatch.setattr(sending, "_post", broken)
    with pytest.raises(RuntimeError):
        wake(delivery.pk)

    row = Delivery.objects.get(pk=delivery.pk)
    assert (row.status, row.leased_until) == ("failed", None)
    assert not Delivery.objects.get(pk=waiting.pk).waiting  # its slot went to the next
    [letter] = DeadLetter.objects.filter(task_name="webhooks.deliver")
    assert Notification.objects.filter(recipient=staff_user, message__contains="a bug").exists()
    assert dead_letters_requeue(dead_letter_ids=[letter.pk]) == 1
    row.refresh_from_db()
    assert (row.status, row.tries) == ("pending", 0)
    assert json.loads(json.dumps(row.payload))["endpoint_id"] == endpoint.pk


def test_beat_redrives_pending_deliveries_no_attempt_holds_or_will_wake_once_past_due():
    """Due REDRIVE_AFTER_SECONDS ago (the time passed, as the test moves it) and held by no
    attempt: its message was lost. A waiting delivery too, where no attempt is going at its
    endpoint to wake it; not one a live lease holds, nor one due recently, nor one ended."""
    from webhooks.services.sending import REDRIVE_AFTER_SECONDS
    from webhooks.tasks import redrive_deliveries
    from worker.celery import app

    # No message waits in the webhooks queue: none is on its way. (The project's app: the
    # current one may be another test's, on a broker it stopped.)
    app.control.purge()
    busy, idle = (Endpoint.objects.create(url=f"https://x/{n}", secret=secret_new()) for n in "ab")
    lost, _recent, leased, waits_on_lease, ended = (send(busy) for _ in range(5))
    lapsed, waits_on_nothing = send(idle), send(idle)
    Delivery.objects.filter(pk=ended).update(status="delivered", next_attempt_at=None)
    Delivery.objects.filter(pk__in=[leased, lapsed]).update(leased_until=db_now(plus_seconds=30))
    Delivery.objects.filter(pk__in=[waits_on_lease, waits_on_nothing]).update(waiting=True)

    assert redrive_deliveries.apply().get() == 0  # nothing due long enough yet
    time_passes(REDRIVE_AFTER_SECONDS + 1, lost, leased, waits_on_lease, lapsed, waits_on_nothing)
    Delivery.objects.filter(pk=leased).update(leased_until=db_now(plus_seconds=5))  # still held

    assert redrive_deliveries.apply().get() == 3
    messages = {
        delivery.pk: OutboxMessage.objects.filter(args=[delivery.pk]).count()
        for delivery in Delivery.objects.all()
    }
    redriven = {lost, lapsed, waits_on_nothing}
    assert messages == {pk: 2 if pk in redriven else 1 for pk in messages}  # the event's, again
    for row in Delivery.objects.filter(pk__in=redriven):
        assert not row.waiting and row.status == "pending"
        assert abs((row.next_attempt_at - timezone.now()).total_seconds()) < 5  # due now
    assert Delivery.objects.get(pk=waits_on_lease).waiting
    assert redrive_deliveries.apply().get() == 0  # their due times moved on


def send(endpoint: Endpoint) -> str:
    return endpoint_test_send(endpoint_id=endpoint.pk).pk


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
        assert wake(delivery.pk) == "retry"
    [attempt] = Delivery.objects.get(pk=delivery.pk).attempts.all()
    assert attempt.status_code is None
    assert attempt.error == (
        f"DeadlineExceeded: the webhook request to endpoint {endpoint.pk}: "
        "cut at its 2.0 s deadline"
    )
    assert 2000 <= attempt.duration_ms <= 4000
