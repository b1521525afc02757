"""When a notification's email digest goes (the email channel: .emails). A notification
made at t is due at t + SHOPFLOW_NOTIFY_EMAIL_AFTER_MINUTES; its digest is the job
"<recipient id>:<due minute>" (epoch minutes) of kind `notification_digest`, due at the
end of that minute, so that a person's notifications due in one minute go in one email.
The job sends what of the person's is still unread, not yet emailed, and due by then; one
digest of a person's at a time (the job's concurrency key), so that two never gather the
same notifications."""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from worker.jobs import enqueue_on_commit

from .models import Notification

DIGEST_KIND = "notification_digest"  # its jobs' kind


def email_delay() -> timedelta:
    """How long a notification waits unread before it is emailed."""
    return timedelta(minutes=settings.SHOPFLOW_NOTIFY_EMAIL_AFTER_MINUTES)


def digest_minute(created_at: datetime) -> int:
    """The minute (since the epoch) in which a notification made at `created_at` is due."""
    return int((created_at + email_delay()).timestamp() // 60)


def digest_due_at(minute: int) -> datetime:
    """When the digest of `minute` goes: at its end."""
    return datetime.fromtimestamp((minute + 1) * 60, tz=UTC)


def digests_enqueue(notifications: list[Notification]) -> None:
    """In the transaction that makes these notifications: each recipient's digest job of
    the minute they are due, due at its end (one already there takes them too). Whether
    the kind is emailed is read when it is due: a preference may change meanwhile."""
    now = timezone.now()
    for notification in notifications:
        minute = digest_minute(notification.created_at)
        enqueue_on_commit(
            DIGEST_KIND,
            f"{notification.recipient_id}:{minute}",
            # One digest of a person's at a time: two would gather the same notifications.
            concurrency_key=str(notification.recipient_id),
            delay_seconds=max((digest_due_at(minute) - now).total_seconds(), 0),
        )
