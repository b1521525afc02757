"""Any number of beats, each due time sent once (worker.beat: one holds the lease and
sends, the others stand by): real `celery beat` processes on this test's PostgreSQL,
directly and behind PgBouncer in transaction mode; one of two SIGKILLed and the next due
times sent by the other within a minute; a beat back after three hours sending each
missed entry once, not once per missed due time; one stopped in the middle of a statement
exiting at once and letting its lease go."""

from datetime import timedelta
from itertools import pairwise

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.clock import db_now
from tests.support.beat import STANDING_BY, Probe, only_probes_enabled, sent_at
from tests.support.polling import wait_until
from tests.support.processes import BeatProcess, database_url, subprocess_env
from worker.beat import LEASE
from worker.models import BeatLease

pytestmark = pytest.mark.django_db(transaction=True)

EVERY = 2  # seconds between due times of the probe
SENDS = 10


@pytest.fixture
def beats(tmp_path):
    """Start `count` beats with an environment; all stopped after the test."""
    started = []

    def start(env, count: int = 1) -> list[BeatProcess]:
        for _ in range(count):
            started.append(BeatProcess(env, tmp_path / f"beat-{len(started)}.log").start())
        return started[-count:]

    yield start
    for beat in started:
        beat.stop()


def beat_env(broker_url: str, database_url: str | None = None) -> dict[str, str]:
    pooled = {"DATABASE_URL": database_url, "DATABASE_TRANSACTION_POOLING": 1}
    return subprocess_env(CELERY_BROKER_URL=broker_url, **(pooled if database_url else {}))


@pytest.mark.parametrize("pooled", [False, True], ids=["postgresql", "pgbouncer-transaction"])
def test_two_beats_send_each_due_time_once(pooled, request, broker_url, beats):
    database = settings.DATABASES["default"]["NAME"]
    database_url = request.getfixturevalue("pgbouncer").url(database) if pooled else None
    probe = Probe(broker_url, name=f"probe every {EVERY} s")
    only_probes_enabled(probe.install(every_seconds=EVERY))

    first, second = beats(beat_env(broker_url, database_url), count=2)

    def sends_all_on_the_broker() -> list | None:
        """The sends both logged, once SENDS of them are each on the broker once. Read
        while both run, when the two agree (a beat logs a send before it publishes it);
        not after stopping them: a beat stopped between the two has logged a send it
        never made (seen on a loaded machine)."""
        sent = sorted(sent_at(first.output(), probe.name) + sent_at(second.output(), probe.name))
        return sent if len(sent) >= SENDS and len(sent) == probe.published() else None

    sent = wait_until(
        sends_all_on_the_broker,
        timeout=SENDS * EVERY + 30,
        message=f"{SENDS} sends, each on the broker once; logs:\n"
        f"{first.output()[-2000:]}\n{second.output()[-2000:]}",
    )
    # The one standing by first: stopped after the sender, it takes the lease the sender
    # lets go as it stops, and sends the next due time itself (a CI run saw it).
    for beat in sorted((first, second), key=lambda beat: bool(sent_at(beat.output(), probe.name))):
        beat.stop()
    # One send per due time: two beats each sending would interleave their sends, a due
    # time's two sends well under a period apart (a loaded machine delayed one send by 0.9 s).
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(sent)]
    assert min(gaps) > EVERY * 0.5, gaps
    # As many as the due times in that span: none doubled, none missed.
    assert abs(len(gaps) - (sent[-1] - sent[0]).total_seconds() / EVERY) <= 1, gaps
    # One sent them all; the other stood by and says so.
    senders = [beat for beat in (first, second) if sent_at(beat.output(), probe.name)]
    assert len(senders) == 1
    assert STANDING_BY in next(beat for beat in (first, second) if beat not in senders).output()


def test_a_killed_beat_leaves_the_next_due_time_to_the_other(broker_url, beats):
    probe = Probe(broker_url, name=f"probe every {EVERY} s")
    only_probes_enabled(probe.install(every_seconds=EVERY))
    pair = beats(beat_env(broker_url), count=2)
    wait_until(lambda: probe.published() >= 3, timeout=60, message="three sends")

    # The one that sent last: the one sending, as far as anyone can tell.
    killed = max(pair, key=lambda beat: sent_at(beat.output(), probe.name)[-1:])
    survivor = next(beat for beat in pair if beat is not killed)
    killed.kill()
    at_kill = probe.published()
    killed_at = timezone.localtime().replace(tzinfo=None)  # as beat logs: local time

    wait_until(lambda: probe.published() >= at_kill + 2, timeout=60, message="sends after")
    after = [stamp for stamp in sent_at(survivor.output(), probe.name) if stamp > killed_at]
    assert after, survivor.output()[-2000:]
    assert (after[0] - killed_at).total_seconds() < 60
    # No due time sent twice across the handover: the survivor read what the other sent.
    sent = sorted(sent_at(killed.output(), probe.name) + sent_at(survivor.output(), probe.name))
    assert min((b - a).total_seconds() for a, b in pairwise(sent)) > EVERY * 0.75, sent


def test_a_beat_down_three_hours_sends_each_entry_once_to_catch_up(broker_url, beats):
    three_hours_ago = timezone.now() - timedelta(hours=3)
    every = Probe(broker_url, name="probe every 10 s")
    hourly = Probe(broker_url, name="probe hourly")
    # Due at half past every hour from now: three missed, the next not for half an hour.
    minute = (timezone.localtime().minute + 30) % 60
    entries = [
        every.install(every_seconds=10, last_run_at=three_hours_ago),
        hourly.install(
            crontab={"minute": str(minute), "hour": "*", "timezone": settings.TIME_ZONE},
            last_run_at=three_hours_ago,
        ),
    ]
    only_probes_enabled(*entries)

    (beat,) = beats(beat_env(broker_url))
    # The interval entry's next due time, 10 s after its catch-up: beat has moved on.
    wait_until(lambda: every.published() >= 2, timeout=60, message="two sends of every 10 s")

    assert hourly.published() == 1
    first, second = sent_at(beat.output(), every.name)[:2]
    assert (second - first).total_seconds() >= 9  # once to catch up, then on time
    for entry in entries:  # the last run is now, not one of the missed due times
        entry.refresh_from_db()
        assert timezone.now() - entry.last_run_at < timedelta(seconds=30)


def lease_statement_waiting(setting: str) -> bool:
    """A statement on the lease row that waits for a lock, and sets `setting` first: the
    renewal sets the holder, the release only the expiry."""
    waiting = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND query LIKE %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(waiting, [f'UPDATE "worker_beatlease" SET "{setting}"%'])
        return cursor.fetchone()[0] > 0


def test_a_beat_stopped_mid_statement_ends_it_lets_its_lease_go_and_exits(broker_url, beats):
    """A rollout's SIGTERM may land while a tick waits on the database: beat ends that
    statement, lets its lease go and exits (worker/compat/beat_stop.py), instead of
    waiting for ever on the connection the interrupted statement holds."""
    (beat,) = beats(beat_env(broker_url))
    wait_until(lambda: BeatLease.objects.filter(name=LEASE).exists(), timeout=60)
    with psycopg.connect(database_url()) as row_lock:  # the lease row held by another
        row_lock.execute("SELECT * FROM worker_beatlease FOR UPDATE")
        wait_until(lambda: lease_statement_waiting("holder"), timeout=30, message="a renewal")
        beat.process.terminate()
        wait_until(lambda: lease_statement_waiting("expires_at"), timeout=30, message="a release")
        row_lock.rollback()

    assert beat.process.wait(timeout=15) == 0
    assert BeatLease.objects.filter(name=LEASE, expires_at__lte=db_now()).exists()  # let go
