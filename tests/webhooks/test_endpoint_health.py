"""What becomes of an endpoint and of the deliveries waiting for it, against a real
receiver on loopback (the worker's part run here, as in tests/webhooks/test_sending.py):
disabled when it answers 410 or after five days of failures (a success resets that),
its deliveries failed without a request once it is disabled, and deleted, the one an
attempt held at their attempt, once it is deleted; staff told when the shop disables it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.clock import db_now
from notifications.models import Notification
from webhooks.models import Endpoint
from webhooks.services.deliveries import endpoint_test_send
from worker.models import Job

from ..support.webhooks import attempt_due, attempts_of, hook, status_of

pytestmark = pytest.mark.django_db


def test_410_disables_the_endpoint_fails_what_waits_for_it_and_tells_staff(receiver, staff_user):
    endpoint = hook(receiver)
    receiver.behave("/hook", status=410)
    gone, waiting = (endpoint_test_send(endpoint_id=endpoint.pk) for _ in range(2))

    assert attempt_due() == []
    assert attempt_due() == []  # the other one failed with its endpoint: nothing due

    assert len(receiver.at("/hook")) == 1
    row = Endpoint.objects.get(pk=endpoint.pk)
    assert (row.enabled, row.disabled_reason) == (False, "it answered 410 Gone")
    assert (status_of(gone.key), status_of(waiting.key)) == ("failed", "failed")
    assert [a.status_code for a in attempts_of(gone.key)] == [410]
    assert attempts_of(waiting.key) == []
    [told] = Notification.objects.filter(recipient=staff_user)
    assert told.message == f"Webhook endpoint {endpoint.url} disabled: it answered 410 Gone"


def test_an_endpoint_failing_for_five_days_is_disabled_at_its_next_failure_and_a_success_resets(
    receiver, staff_user
):
    flaky, dead = hook(receiver, "/flaky"), hook(receiver, "/dead")
    receiver.behave("/dead", status=500)
    receiver.behave("/flaky", status=500)
    for endpoint in (flaky, dead):
        endpoint_test_send(endpoint_id=endpoint.pk)
        assert attempt_due() == []
    receiver.behave("/flaky", status=204)
    delivered = endpoint_test_send(endpoint_id=flaky.pk).key
    assert attempt_due() == [delivered]
    assert Endpoint.objects.get(pk=flaky.pk).failing_since is None  # a success resets it
    receiver.behave("/flaky", status=500)
    five_days_ago = timezone.now() - timedelta(days=5, minutes=1)
    Endpoint.objects.filter(failing_since__isnull=False).update(failing_since=five_days_ago)
    waiting = endpoint_test_send(endpoint_id=dead.pk).key  # due later than the next two

    for endpoint in (flaky, dead):
        Job.objects.filter(concurrency_key=str(endpoint.pk), status="pending").update(
            due_at=db_now(plus_seconds=-60)
        )
        assert attempt_due() == []

    assert Endpoint.objects.get(pk=flaky.pk).enabled  # failing since moments ago
    dead.refresh_from_db()
    assert (dead.enabled, dead.disabled_reason) == (False, "every attempt failed for 5 days")
    assert status_of(waiting) == "failed"
    assert attempts_of(waiting) == []
    [told] = Notification.objects.filter(recipient=staff_user)
    assert told.message.endswith("disabled: every attempt failed for 5 days")


def test_a_delivery_of_a_disabled_endpoint_fails_at_its_claim_without_a_request(receiver):
    """One in flight when its endpoint was disabled, back on the schedule: failed when
    claimed, nothing sent, nothing told (staff disabled it)."""
    endpoint = hook(receiver)
    delivery = endpoint_test_send(endpoint_id=endpoint.pk).key
    Endpoint.objects.filter(pk=endpoint.pk).update(enabled=False)

    assert attempt_due() == []
    assert status_of(delivery) == "failed" and receiver.at("/hook") == []
    assert attempts_of(delivery) == []
    assert not Notification.objects.exists()


def test_a_delivery_whose_endpoint_went_while_it_was_held_goes_at_its_attempt(receiver):
    """Its endpoint gone when its attempt comes (a delete passes by a delivery another
    transaction holds): the attempt sends nothing and takes the delivery with it."""
    endpoint = hook(receiver)
    delivery = endpoint_test_send(endpoint_id=endpoint.pk).key
    Endpoint.objects.filter(pk=endpoint.pk).delete()

    assert attempt_due() == []
    assert not Job.objects.filter(key=delivery).exists() and receiver.at("/hook") == []
