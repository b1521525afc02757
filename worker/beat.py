"""Beat's scheduler: django-celery-beat's database scheduler (the schedule lives in the
database, editable in the admin), whose every tick vouches for beat's liveness
(core.liveness): a beat stuck in a tick lapses, one that waits for its next due time does
not. `celery -A worker beat --scheduler worker.beat:Scheduler`.

Any number of beats may run (a rolling update, two replicas, two hosts): each due time is
claimed in the database before it is sent (worker.schedule.periodic_task_claim, one
conditional UPDATE of the entry's last run), and only the beat whose claim wins sends it.
The others refresh the entry from the database, so it is not due again until the next
due time, which they contend for again: no leader, so none to lose."""

import logging

from django.core.exceptions import ObjectDoesNotExist
from django.db.utils import DatabaseError, InterfaceError
from django_celery_beat.schedulers import DatabaseScheduler

from core.liveness import VOUCH_SECONDS, WAITING_SECONDS, liveness_vouch

from .schedule import periodic_task_claim

logger = logging.getLogger(__name__)


class Scheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        # Names of the entries whose due time this beat reserved but another claimed.
        self.unclaimed: set[str] = set()
        super().__init__(*args, **kwargs)

    def setup_schedule(self):
        # Its first publication may wait for the broker (Celery retries it for minutes).
        liveness_vouch(seconds=WAITING_SECONDS)
        super().setup_schedule()

    def tick(self, *args, **kwargs):
        interval = super().tick(*args, **kwargs)
        # A tick comes every max_interval (5 s) at the least: two of them missed, not one.
        liveness_vouch(seconds=max(VOUCH_SECONDS, 2 * self.max_interval))
        return interval

    def reserve(self, entry):
        """The entry's next state, once this beat has claimed the due time `entry` found
        (Celery's tick reserves, then applies the entry). Not DatabaseScheduler's own: that
        marks the entry for its `sync`, which would write this beat's idea of the last run
        over the one the claim wrote; the claim is the write."""
        following = next(entry)
        try:
            if periodic_task_claim(
                task_id=entry.model.pk, read=entry.last_run_at, run_at=following.last_run_at
            ):
                return following
            # Another beat sent it: the database's last run, not due before the next time.
            entry.model.refresh_from_db(fields=["last_run_at", "total_run_count"])
            following = self.Entry(entry.model, app=self.app)
        except (DatabaseError, InterfaceError, ObjectDoesNotExist):
            # Unclaimed, unsent: the entry stays due, tried again at its next check.
            logger.exception("Scheduler: cannot claim %s, not sending it", entry.name)
            following = entry
        self.unclaimed.add(entry.name)
        return following

    def apply_entry(self, entry, producer=None):
        if entry.name in self.unclaimed:
            self.unclaimed.discard(entry.name)
            logger.info("Scheduler: Due task %s claimed by another beat", entry.name)
            return
        super().apply_entry(entry, producer=producer)
