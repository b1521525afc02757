"""The delivery pipeline's run (notifications.delivery), whatever the channel: it ends
within its task's time limit, whatever the pool."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from notifications import delivery
from notifications.models import Notification, NotificationDelivery
from tests.factories import UserFactory

CLAIM = timedelta(seconds=settings.SHOPFLOW_NOTIFICATION_CLAIM_SECONDS)

pytestmark = pytest.mark.django_db


def test_a_run_starts_no_group_past_its_run_budget_and_lets_the_rest_go(monotonic_clock, settings):
    """Groups that take 0.15 s each of the clock the test moves, 0.2 s of budget to start
    them (worker.tasks_base.last_start_by: half the soft time limit): two go, the third's
    claim is let go, due again for the next run."""
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 0.4
    notes = [
        Notification.objects.create(recipient=UserFactory(), kind="message", message=f"m{n}")
        for n in range(3)
    ]
    sent = []

    def slow_send(group, *, now):
        monotonic_clock.advance(0.15)
        sent.append(group[0].notification_id)
        return delivery.Outcome(delivery.DELIVERED)

    sender = delivery.Sender(
        channel=NotificationDelivery.Channel.EMAIL,
        candidates=lambda now: Notification.objects.filter(pk__in=[n.pk for n in notes]),
        group=lambda row: row.notification.recipient_id,
        send=slow_send,
    )

    assert delivery.deliveries_send(sender) == 2

    [left] = NotificationDelivery.objects.exclude(notification_id__in=sent)
    assert (left.status, left.attempts) == ("pending", 0)
    assert left.next_attempt_at <= timezone.now()  # not held for the claim's 120 s


def _sender(notes, send) -> delivery.Sender:
    """An email-like channel over these notifications, one group a person."""
    return delivery.Sender(
        channel=NotificationDelivery.Channel.EMAIL,
        candidates=lambda now: Notification.objects.filter(pk__in=[n.pk for n in notes]),
        group=lambda row: row.notification.recipient_id,
        send=send,
    )


def test_a_group_claimed_later_in_a_run_is_held_its_whole_claim_from_then(
    monkeypatch, monotonic_clock
):
    """Each send takes 20 s of the clock the test moves, one group a batch: the second
    group is claimed 20 s into the run, for the claim window from then, not from its
    start."""
    monkeypatch.setattr(delivery, "BATCH", 1)
    notes = [
        Notification.objects.create(recipient=UserFactory(), kind="message", message=f"m{n}")
        for n in range(2)
    ]
    held_until = {}

    def send(group, *, now):
        row = NotificationDelivery.objects.get(pk=group[0].pk)
        held_until[row.notification_id] = row.next_attempt_at
        monotonic_clock.advance(20)
        return delivery.Outcome(delivery.DELIVERED)

    start = timezone.now()
    assert delivery.deliveries_send(_sender(notes, send), now=start) == 2
    assert held_until == {
        notes[0].pk: start + CLAIM,
        notes[1].pk: start + timedelta(seconds=20) + CLAIM,
    }


def test_a_row_that_fails_with_no_wait_is_not_sent_again_in_the_same_run(monkeypatch):
    """Full jitter's wait may be 0: the row is due again, for the next run, not this one
    (a full batch of one makes the run claim again)."""
    monkeypatch.setattr(delivery, "BATCH", 1)
    monkeypatch.setattr(delivery, "retry_countdown", lambda **kwargs: 0)
    note = Notification.objects.create(recipient=UserFactory(), kind="message", message="m")
    sends = []

    def refused(group, *, now):
        sends.append(group[0].pk)
        return delivery.Outcome(delivery.RETRY, error="451 try again later")

    assert delivery.deliveries_send(_sender([note], refused)) == 0
    row = NotificationDelivery.objects.get(notification=note)
    assert (len(sends), row.status, row.attempts) == (1, "pending", 1)
