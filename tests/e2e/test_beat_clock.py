"""Schedules that keep the shop's local time across a DST change (worker.beat, Celery's
crontab): a real beat whose wall clock starts just before the change (libfaketime,
tests.support.clocks), in the shop's time zone, Europe/Berlin here.

What "once per intended local time" means (docs/operations.md, "Beat"):
- spring forward (2026-03-29, 01:59:59 CET then 03:00:00 CEST): a local time the day
  skips fires once, at the instant it would be on the clock before the change: 02:00 at
  03:00 CEST (02:30 would at 03:30 CEST); an hourly entry fires once at 03:00 CEST, not
  also for the hour that did not exist;
- fall back (2026-10-25, 02:59:59 CEST then 02:00:00 CET): a local time the day repeats
  fires once, at its first occurrence: 02:30 CEST, not again at 02:30 CET; an hourly
  entry at :30 likewise (then 03:30 CET).
A beat's log shows the shop's local time."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.support.beat import Probe, only_probes_enabled, sent_at
from tests.support.clocks import clock_from_env, log_times
from tests.support.polling import wait_until
from tests.support.processes import BeatProcess, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

SHOP_ZONE = "Europe/Berlin"
BERLIN = ZoneInfo(SHOP_ZONE)
AHEAD = timedelta(seconds=8)  # how long before the due time a beat's clock starts
PAST = timedelta(seconds=5)  # how long after it a beat is watched


def berlin(*fields, fold: int = 0) -> datetime:
    return datetime(*fields, tzinfo=BERLIN, fold=fold)


def before(moment: datetime) -> datetime:
    """AHEAD before `moment`, counted in elapsed time (local arithmetic would count the
    hour a DST change adds or skips)."""
    return moment.astimezone(UTC) - AHEAD


def at(minute: str, hour: str) -> dict:
    return {"minute": minute, "hour": hour, "timezone": SHOP_ZONE}


@pytest.fixture
def beat_at(broker_url, tmp_path):
    """Start a beat in the shop's time zone whose clock reads `start` as it starts."""
    started = []

    def start(start: datetime) -> BeatProcess:
        env = subprocess_env(CELERY_BROKER_URL=broker_url, TZ_NAME=SHOP_ZONE)
        beat = BeatProcess(clock_from_env(env, start), tmp_path / f"beat-{len(started)}.log")
        started.append(beat)
        return beat.start()

    yield start
    for beat in started:
        beat.stop()


def first_look(output: str, local: datetime) -> datetime:
    """When the beat whose log is `output` could first send what was due at `local` (its
    local time): then, or at its own start (its log's first line) if it came up later."""
    return max(local, log_times(output)[0])


def watch_until(beat: BeatProcess, witness: Probe, local: datetime) -> None:
    """Until the beat's log shows it sent `witness` PAST after `local` (its local time) or
    after its own start, whichever is later: whatever was due before then, it sent. (Beat
    sends one due entry a tick: a beat that came up late, past `local`, sends the witness
    and the overdue entries one after the other at its start.)"""

    def witnessed() -> bool:
        output = beat.output()
        until = first_look(output, local) + PAST
        return any(stamp >= until for stamp in sent_at(output, witness.name))

    wait_until(
        witnessed,
        timeout=45,
        message=f"{witness.name} sent {PAST} after {local} or later:\n{beat.output()[-3000:]}",
    )


def sent_once_at(beat: BeatProcess, probe: Probe, local: datetime) -> bool:
    """The beat's log shows one send of `probe`, at `local` (its local time), or within
    the two seconds after (a loaded machine's late wake-up). A beat whose start took
    longer than AHEAD (its clock ran from the exec: on a loaded machine, over 9 s) was
    not up at `local`: its first look, as it starts, is when the send is due."""
    output = beat.output()
    sent = sent_at(output, probe.name)
    return len(sent) == 1 and 0 <= (sent[0] - first_look(output, local)).total_seconds() < 2


def test_a_local_time_the_spring_change_skips_fires_once(broker_url, beat_at):
    daily, hourly = Probe(broker_url, name="daily at 02:00"), Probe(broker_url, name="hourly")
    witness = Probe(broker_url, name="witness every 2 s")
    only_probes_enabled(
        daily.install(crontab=at("0", "2"), last_run_at=berlin(2026, 3, 28, 2, 0)),
        hourly.install(crontab=at("0", "*"), last_run_at=berlin(2026, 3, 29, 1, 0)),
        witness.install(every_seconds=2, last_run_at=berlin(2026, 3, 29, 1, 59)),
    )
    change = berlin(2026, 3, 29, 3, 0)  # the first instant of summer time

    beat = beat_at(before(change))
    watch_until(beat, witness, datetime(2026, 3, 29, 3, 0))

    for probe in (daily, hourly):
        assert sent_once_at(beat, probe, datetime(2026, 3, 29, 3, 0)), beat.output()
        assert probe.published() == 1


def test_a_local_time_the_autumn_change_repeats_fires_once(broker_url, beat_at):
    daily, hourly = Probe(broker_url, name="daily at 02:30"), Probe(broker_url, name="hourly")
    witness = Probe(broker_url, name="witness every 2 s")
    watched = witness.install(every_seconds=2, last_run_at=berlin(2026, 10, 25, 2, 29))
    only_probes_enabled(
        daily.install(crontab=at("30", "2"), last_run_at=berlin(2026, 10, 24, 2, 30)),
        hourly.install(crontab=at("30", "*"), last_run_at=berlin(2026, 10, 25, 1, 30)),
        watched,
    )
    local = datetime(2026, 10, 25, 2, 30)  # as a log shows either of them

    first = beat_at(before(berlin(2026, 10, 25, 2, 30)))  # summer time: its first 02:30
    watch_until(first, witness, local)
    first.stop()
    for probe in (daily, hourly):
        assert sent_once_at(first, probe, local), first.output()

    # An hour later, winter time: 02:30 again. The database remembers the first.
    second = beat_at(before(berlin(2026, 10, 25, 2, 30, fold=1)))
    watch_until(second, witness, local)
    watched.refresh_from_db()  # the second beat's clock was on winter time indeed
    assert watched.last_run_at > berlin(2026, 10, 25, 2, 30, fold=1).astimezone(UTC)

    for probe in (daily, hourly):
        assert sent_at(second.output(), probe.name) == [], second.output()
        assert probe.published() == 1
