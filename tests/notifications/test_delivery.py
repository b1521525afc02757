"""The delivery pipeline's run (notifications.delivery), whatever the channel: it ends
within its task's time limit, whatever the pool."""

import time

import pytest
from django.utils import timezone

from notifications import delivery
from notifications.models import Notification, NotificationDelivery
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_run_starts_no_group_past_half_its_soft_time_limit_and_lets_the_rest_go(settings):
    """Groups that take 0.15 s each, half a 0.4 s soft limit to start them: two go, the
    third's claim is let go, due again for the next run."""
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 0.4
    notes = [
        Notification.objects.create(recipient=UserFactory(), kind="message", message=f"m{n}")
        for n in range(3)
    ]
    sent = []

    def slow_send(group, *, now):
        time.sleep(0.15)  # a slow send, on purpose: the run's budget is under test
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
