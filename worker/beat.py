"""Beat's scheduler: django-celery-beat's database scheduler (the schedule lives in the
database, editable in the admin), whose every tick vouches for beat's liveness
(core.liveness): a beat stuck in a tick lapses, one that waits for its next due time does
not. `celery -A worker beat --scheduler worker.beat:Scheduler`."""

from django_celery_beat.schedulers import DatabaseScheduler

from core.liveness import VOUCH_SECONDS, WAITING_SECONDS, liveness_vouch


class Scheduler(DatabaseScheduler):
    def setup_schedule(self):
        # Its first publication may wait for the broker (Celery retries it for minutes).
        liveness_vouch(seconds=WAITING_SECONDS)
        super().setup_schedule()

    def tick(self, *args, **kwargs):
        interval = super().tick(*args, **kwargs)
        # A tick comes every max_interval (5 s) at the least: two of them missed, not one.
        liveness_vouch(seconds=max(VOUCH_SECONDS, 2 * self.max_interval))
        return interval
