"""Beat's scheduler: django-celery-beat's database scheduler as it comes (the schedule in the
admin), behind a lease row (BeatLease), so that of any number of beats one sends, each due
time once, and the others stand by: docs/operations.md, "Beat".
`celery -A worker beat --scheduler worker.beat:Scheduler`.

Every tick writes beat's heartbeat (core.liveness), standing by or sending: a beat
stuck in a tick lapses, one that waits for its next due time does not."""

import logging
import os
import socket
import uuid

from django.db import close_old_connections
from django.db.models import Q
from django.db.utils import DatabaseError, InterfaceError
from django_celery_beat.schedulers import DatabaseScheduler

from core.clock import db_now
from core.liveness import ALIVE_SECONDS, WAITING_SECONDS, liveness_heartbeat

from .models import BeatLease

logger = logging.getLogger(__name__)

LEASE = "beat"
# Longer than a tick may take (a publication gives up within about 10 s, a statement
# within 20 s), short enough that a standby sends within a minute of a beat's death.
LEASE_SECONDS = 30.0
STANDBY_SECONDS = 5.0  # how often a standby asks for the lease


def beat_lease_take(*, holder: str, renew_only: bool = False) -> bool:
    """True when `holder` holds the lease for LEASE_SECONDS from now, by the database's
    clock: renewed if it held it, else taken if it had lapsed (not with `renew_only`)."""
    mine = Q(holder=holder) if renew_only else Q(holder=holder) | Q(expires_at__lt=db_now())
    until = db_now(plus_seconds=LEASE_SECONDS)
    if BeatLease.objects.filter(mine, name=LEASE).update(holder=holder, expires_at=until):
        return True
    if renew_only:
        return False
    # No row yet: the first beat writes it (of two at the same instant, one).
    _, created = BeatLease.objects.get_or_create(
        name=LEASE, defaults={"holder": holder, "expires_at": until}
    )
    return created


class Scheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading = False
        self.standing_by = False
        super().__init__(*args, **{**kwargs, "sync_every_tasks": 1})

    def setup_schedule(self):
        # Deferred to the tick that takes the lease: a standby reads no schedule.
        liveness_heartbeat(seconds=WAITING_SECONDS)

    def tick(self, *args, **kwargs):
        if not self.lease_held():
            liveness_heartbeat(seconds=max(ALIVE_SECONDS, 2 * STANDBY_SECONDS))
            return min(STANDBY_SECONDS, self.max_interval)
        if not self.leading:
            self.leading = True
            logger.info("Scheduler: this beat (%s) holds the lease: it sends", self.holder)
            # Its first publication may wait for the broker (Celery retries it for minutes).
            liveness_heartbeat(seconds=WAITING_SECONDS)
            super().setup_schedule()
        interval = super().tick(*args, **kwargs)
        # A tick comes every max_interval (5 s) at the least: two of them missed, not one.
        liveness_heartbeat(seconds=max(ALIVE_SECONDS, 2 * self.max_interval))
        return interval

    def lease_held(self) -> bool:
        """Take or renew the lease; False when another beat holds it or the database does
        not answer (nothing is sent then). Exits when another took this beat's lease."""
        try:
            close_old_connections()  # one the database dropped is not used again
            held = beat_lease_take(holder=self.holder, renew_only=self.leading)
        except (DatabaseError, InterfaceError) as exc:
            logger.warning("Scheduler: cannot reach the database for the lease: %s", exc)
            return False
        if self.leading and not held:
            logger.error(
                "Scheduler: another beat took the lease (this one was frozen or cut off for"
                " over %d s): exiting, the schedule it holds may be stale",
                LEASE_SECONDS,
            )
            raise SystemExit(1)
        if not held and not self.standing_by:
            logger.info("Scheduler: standing by, another beat holds the lease")
        self.standing_by = not held
        return held

    def close(self):
        super().close()
        if self.leading:  # the next beat need not wait for the lease to lapse
            try:
                BeatLease.objects.filter(name=LEASE, holder=self.holder).update(expires_at=db_now())
            except (DatabaseError, InterfaceError):
                logger.warning("Scheduler: could not let the lease go: it lapses by itself")
