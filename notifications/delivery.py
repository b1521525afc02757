"""The one delivery pipeline of the channels beyond the app (email, Web Push): plan, claim,
send, record, with a Sender per channel (.emails, .push) and one retry policy, the
side-effect tasks' own (docs/notifications.md, "One delivery pipeline"). A send runs with
no transaction open (SMTP or a push service may take seconds); a worker killed before its
record leaves the claim to run out: sent again, at least once."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core import clock
from worker.tasks_base import last_start_by, retry_countdown

from . import locks, selectors
from .models import Notification, NotificationDelivery

logger = logging.getLogger(__name__)

Status = NotificationDelivery.Status
# What a send may come to: a retried delivery stays pending.
DELIVERED, FAILED, RETRY = Status.DELIVERED, Status.FAILED, Status.PENDING
BATCH = 100


@dataclass(frozen=True)
class Outcome:
    """What came of sending a group: delivered; failed for good; or pending, retried no
    sooner than `retry_after` seconds."""

    status: str
    error: str = ""
    retry_after: int = 0


@dataclass(frozen=True)
class Sender:
    """A channel: its notifications to plan (those it has no row of yet; and their rows),
    how deliveries are grouped (one send a group) and sent, and which are still wanted when
    due (others: cancelled)."""

    channel: str
    candidates: Callable[..., QuerySet[Notification]]
    group: Callable[[NotificationDelivery], object]
    send: Callable[..., Outcome]
    wanted: Callable[[NotificationDelivery], bool] = lambda delivery: True
    rows: Callable[..., list[NotificationDelivery]] | None = None  # None: one a notification


def deliveries_send(sender: Sender, *, now=None) -> int:
    """Plan the channel's deliveries, then send what was due as the run began (`now`), one
    group at a time; how many groups were delivered. No group starts past the run budget
    (worker.tasks_base.last_start_by): those claimed and not sent are let go."""
    start, started = now or timezone.now(), clock.monotonic()

    def run_now():  # `start` moved on by the time the run has taken
        return start + timedelta(seconds=clock.monotonic() - started)

    deliveries_plan(sender, now=start)
    delivered, more = 0, True
    last_start = last_start_by()
    while more and clock.monotonic() < last_start:
        groups, more = _claim(sender, due_by=start, now=run_now())
        for n, group in enumerate(groups):
            if clock.monotonic() > last_start:  # claimed, not sent: due again at once
                left = [row.pk for rest in groups[n:] for row in rest]
                NotificationDelivery.objects.filter(pk__in=left).update(next_attempt_at=start)
                return delivered
            try:
                outcome = sender.send(group, now=run_now())
            except Exception as exc:  # one bad group must not hold the others back
                logger.warning("notifications: %s %s failed: %s", sender.channel, group[0].pk, exc)
                outcome = Outcome(RETRY, error=f"{type(exc).__name__}: {exc}")
            delivered += _record(group, outcome, now=run_now())
    return delivered


def deliveries_plan(sender: Sender, *, now=None) -> int:
    """Pending deliveries of the channel's candidates whose kind their recipient gets by
    it; how many were planned. Read by pages of ids: those whose channel is off come back
    every run, and must not hide the others."""
    now, planned, after_id = now or timezone.now(), 0, 0
    candidates = sender.candidates(now=now).exclude(deliveries__channel=sender.channel)
    while page := list(candidates.filter(pk__gt=after_id).order_by("pk")[:1000]):
        after_id = page[-1].pk
        chosen = selectors.preferences_of(user_ids={row.recipient_id for row in page})
        wanted = [row for row in page if chosen[row.recipient_id, row.kind][sender.channel]]
        rows = (sender.rows or _rows)(wanted, channel=sender.channel, now=now)
        # A row another run planned meanwhile stays as it is.
        NotificationDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        planned += len(rows)
    return planned


def _rows(notifications, *, channel: str, now) -> list[NotificationDelivery]:
    return [
        NotificationDelivery(notification=n, channel=channel, next_attempt_at=now)
        for n in notifications
    ]


def _claim(sender: Sender, *, due_by, now) -> tuple[list[list[NotificationDelivery]], bool]:
    """The next batch's groups due by `due_by`, claimed until the claim window
    (SHOPFLOW_NOTIFICATION_CLAIM_SECONDS) after `now` (those no longer wanted cancelled),
    and whether more may be due. A full batch leaves its last group to the next one: a
    digest is not split (the rows come by recipient)."""
    with transaction.atomic():
        due = list(locks.deliveries_due(channel=sender.channel, now=due_by)[:BATCH])
        unwanted = {row.pk for row in due if not sender.wanted(row)}
        NotificationDelivery.objects.filter(pk__in=unwanted).update(status=Status.CANCELLED)
        groups: dict[object, list[NotificationDelivery]] = {}
        for row in (row for row in due if row.pk not in unwanted):
            groups.setdefault(sender.group(row), []).append(row)
        if len(due) == BATCH and len(groups) > 1:
            groups.popitem()
        claimed = [row.pk for group in groups.values() for row in group]
        claim = timedelta(seconds=settings.SHOPFLOW_NOTIFICATION_CLAIM_SECONDS)
        NotificationDelivery.objects.filter(pk__in=claimed).update(next_attempt_at=now + claim)
    return list(groups.values()), len(due) == BATCH


def _record(group, outcome: Outcome, *, now) -> int:
    """Write what came of the group's send; 1 when it was delivered."""
    error = outcome.error[:500]
    for delivery in group:
        delivery.attempts += 1
        delivery.status, delivery.last_error = outcome.status, error
        if outcome.status == DELIVERED:
            delivery.delivered_at = now
        elif outcome.status == RETRY:
            if delivery.attempts > settings.SHOPFLOW_TASK_MAX_RETRIES:
                delivery.status = FAILED
            delay = retry_countdown(retries=delivery.attempts - 1, retry_after=outcome.retry_after)
            delivery.next_attempt_at = now + timedelta(seconds=delay)
    NotificationDelivery.objects.bulk_update(
        group, ["attempts", "status", "last_error", "delivered_at", "next_attempt_at"]
    )
    return outcome.status == DELIVERED
