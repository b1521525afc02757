"""Beat's scheduler: django-celery-beat's database scheduler (the schedule lives in the
database, editable in the admin), whose every tick vouches for beat's liveness
(core.liveness): a beat stuck in a tick lapses, one that waits for its next due time does
not (it ticks at least every 5 s). `celery -A worker beat --scheduler worker.beat:Scheduler`."""

from django_celery_beat.schedulers import DatabaseScheduler

from core.liveness import START_SECONDS, liveness_vouch


class Scheduler(DatabaseScheduler):
    def setup_schedule(self):
        liveness_vouch(seconds=START_SECONDS)
        super().setup_schedule()

    def tick(self, *args, **kwargs):
        interval = super().tick(*args, **kwargs)
        liveness_vouch()
        return interval
