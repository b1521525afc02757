"""Notifications as the apps make them (notifications_create, in a transaction)."""

import contextlib
from datetime import timedelta
from unittest import mock

from django.db import transaction
from django.utils import timezone

# Made this long ago, a notification's email digest is due, with a minute to spare
# (SHOPFLOW_NOTIFY_EMAIL_AFTER_MINUTES: 10; a digest goes at the end of the minute its
# notifications come due), even by the clock of a test's transaction, begun a little before.
EMAIL_DUE_MINUTES = 12


def notify(user, message: str = "hi", *, kind: str = "message", link: str = "", minutes_ago=None):
    """One notification for `user`, committed as an app's would be (its live push after
    the commit; its jobs with it); made `minutes_ago` when given, by the clock it reads,
    its email digest's job due when that much time later it would be (a test runs it with
    tests.support.jobs.jobs_run)."""
    from notifications import digests
    from notifications.services import inbox
    from worker.models import Job

    at = None if minutes_ago is None else timezone.now() - timedelta(minutes=minutes_ago)
    with _wall_clock_at(at), transaction.atomic():
        (row,) = inbox.notifications_create(
            recipient_ids=[user.pk], kind=kind, message=message, link=link
        )
    if at is not None:
        minute = digests.digest_minute(row.created_at)
        Job.objects.filter(kind=digests.DIGEST_KIND, key=f"{user.pk}:{minute}").update(
            due_at=digests.digest_due_at(minute)
        )
    return row


@contextlib.contextmanager
def _wall_clock_at(at):
    """timezone.now() reads `at` inside the block (None: the machine's time)."""
    if at is None:
        yield
        return
    with mock.patch.object(timezone, "now", lambda: at):
        yield


def digest_jobs(user):
    """`user`'s email digest jobs."""
    from notifications import digests
    from worker.models import Job

    return Job.objects.filter(kind=digests.DIGEST_KIND, key__startswith=f"{user.pk}:")


def due_now(jobs) -> None:
    """Make these jobs due (a retry's wait passed): by the database's clock."""
    from django.db.models.functions import Now

    jobs.update(due_at=Now())


def notified_out_of_id_order(user, *, slow: str, fast: str):
    """Two notifications for `user` whose commits land out of id order: `slow` takes the
    smaller id, and commits after `fast` (PostgreSQL: SQLite has one writer at a time).
    (slow's row, fast's row)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    inserted, go = threading.Event(), threading.Event()

    def held_open():
        try:
            with transaction.atomic():
                row = notify(user, slow)  # its own savepoint, inside this transaction
                inserted.set()
                assert go.wait(10)
            return row
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(held_open)
        assert inserted.wait(10)
        second = notify(user, fast)
        go.set()
        first_row = first.result(10)
    assert first_row.pk < second.pk
    return first_row, second
