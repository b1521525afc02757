"""The profile's parts (bench/profile_parts.py): each stack py-spy samples goes to the part
of the work it is in, the innermost that its rules name; and the report that turns them
into CPU ms an order (bench/profile_report.py)."""

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import profile_report
from profile_parts import UNPLACED, part_of, parts

SERVER = ["run (gunicorn/app/wsgiapp.py:66)", "Runner.run (asyncio/runners.py:118)"]
THREAD = [
    "Thread._bootstrap (threading.py:1002)",
    "_WorkItem.run (concurrent/futures/thread.py:58)",
    "WSGIResponder.wsgi (a2wsgi/wsgi.py:256)",
]
DJANGO = [*THREAD, "WSGIHandler.__call__ (django/core/handlers/wsgi.py:124)"]
VIEW = [*DJANGO, "APIView.dispatch (rest_framework/views.py:523)"]
CHECKOUT = [*VIEW, "OrderListCreateView.post (store/views.py:244)"]
LOOP = ["Consumer.start (celery/worker/consumer/consumer.py:406)", "asynloop (celery/x.py:130)"]
TRACER = [*LOOP, "build_tracer.<locals>.trace_task (celery/app/trace.py:564)"]
CLIENT = "Channel._create_client (kombu/transport/redis.py:2062)"
REDIS_DISPATCHER = "EventDispatcher.__init__ (redis/event.py:10)"


def test_a_views_work_is_its_own_its_receivers_and_their_rows_apart():
    assert part_of([*CHECKOUT, "order_place (store/services/checkout.py:47)"]) == (
        "view OrderListCreateView.post"
    )
    receivers = [*CHECKOUT, "Signal.send_robust (django/dispatch/dispatcher.py:306)"]
    assert part_of(receivers) == "view OrderListCreateView.post: its signal's receivers"
    rows = [*CHECKOUT, "_insert_each_isolated (core/signals.py:105)"]
    assert part_of(rows) == "view OrderListCreateView.post: the rows its receivers gave"
    opened = [*CHECKOUT, "side_effects_open (side_effects/services.py:30)"]
    assert part_of(opened) == "view OrderListCreateView.post: its side-effect rows"
    for hook in ("APIView.initial (rest_framework/views.py:414)", "V.finalize_response (x.py:1)"):
        assert part_of([*VIEW, hook]).startswith("DRF around the views")


def test_the_way_to_a_view_is_the_servers_a2wsgis_or_djangos():
    assert part_of([*SERVER, "data_received (uvicorn/x.py:1)"]).startswith("server")
    assert part_of(THREAD).startswith("a2wsgi")
    assert part_of([*DJANGO, "SessionMiddleware.process_request (x.py:1)"]).startswith("Django")


def test_a_tasks_body_is_named_by_its_task_and_celerys_hand_off_is_apart():
    body = [*TRACER, "apply_inventory (store/tasks.py:18)", "inventory_apply (stock.py:69)"]
    assert part_of(body) == "task apply_inventory"
    assert part_of(TRACER).startswith("Celery: the rest")
    events = [*LOOP, "EventDispatcher.flush (celery/events/dispatcher.py:240)", CLIENT]
    assert part_of(events) == "Celery: task events, for Flower"
    ack = [*LOOP, "Channel.basic_ack (kombu/transport/virtual/base.py:680)", CLIENT]
    assert part_of(ack) == "Celery: acknowledging"


@pytest.mark.parametrize(
    "frames",
    [
        # redis-py makes an EventDispatcher of its own for each client kombu makes.
        [*LOOP, "Channel._brpop_read (kombu/transport/redis.py:1491)", CLIENT, REDIS_DISPATCHER],
        # A worker's gossip reads other workers' events, as Flower does.
        [*LOOP, "Gossip.on_message (celery/worker/consumer/gossip.py:190)", "x (celery/y.py:1)"],
    ],
)
def test_a_workers_receiving_is_not_taken_for_events_or_flower(frames):
    assert part_of(frames) == "Celery: receiving (messages, other workers' events)"


def test_the_relay_publishes_but_a_workers_reply_to_flower_is_not_the_relays():
    relay = ["relay_forever (worker/outbox.py:181)", "relay_once (worker/outbox.py:198)"]
    assert part_of([*relay, "_claim (worker/outbox.py:274)"]) == "relay: its rows, in the database"
    send = [*relay, "_send (worker/outbox.py:233)", "Producer.publish (kombu/messaging.py:352)"]
    assert part_of(send) == "relay: publishing"
    reply = [*LOOP, "Mailbox._publish_reply (kombu/pidbox.py:1)", "Producer.publish (kombu/m:1)"]
    assert part_of(reply).startswith("Celery: the rest")
    flower = ["Events.run (flower/events.py:1)", "Connection.drain_events (kombu/c.py:1)"]
    assert part_of(flower) == "Flower: the events it reads"


def test_a_stack_read_cut_short_is_not_placed_and_samples_add_up_by_part():
    cut = ["BaseCursor._execute_gen (psycopg/_cursor_base.py:211)"]
    assert part_of(['process 1:"python -m celery worker"', *cut]) == UNPLACED
    body = [*TRACER, "record_analytics (analytics_app/tasks.py:14)"]
    assert parts([(cut, 1), (body, 5), (body, 2)]) == {"task record_analytics": 7, UNPLACED: 1}


def _run(tmp_path: Path, cpu: dict) -> Path:
    """A run's JSON as bench/load.py writes it: the stack's CPU an order is that of its
    kinds (the load client's apart)."""
    run = tmp_path / "run.json"
    when = datetime.now(UTC).isoformat(timespec="seconds")
    stack = sum(ms for kind, ms in cpu.items() if kind != "client")
    phase = {"cpu_ms_per_order": cpu, "stack_cpu_ms_per_order": stack}
    run.write_text(json.dumps({"when": when, "summary": {"async": {"open30": phase}}}))
    return run


def _profile(tmp_path: Path, kind: str, lines: list[str], age: float = 0.0) -> None:
    path = tmp_path / f"profile-async-open30-{kind}-{len(lines)}{int(age)}.txt"
    path.write_text("\n".join(lines) + "\n")
    when = path.stat().st_mtime - age
    os.utime(path, (when, when))


def test_the_report_splits_each_kinds_cpu_by_its_newest_profiles_parts(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(profile_report, "WORK", tmp_path)
    body = ";".join([*TRACER, "apply_inventory (store/tasks.py:18)"])
    events = ";".join([*LOOP, "EventDispatcher.flush (celery/events/dispatcher.py:240)"])
    _profile(tmp_path, "worker", [f'process 42:"celery";{body} 3', f"{events} 1"])
    _profile(tmp_path, "worker", [f"{events} 50"], age=600)  # an earlier run's
    run = _run(tmp_path, {"worker": 2.0, "postgres": 5.0, "client": 1.0})
    assert profile_report.main([str(run), "--phase", "open30"]) == 0
    table = capsys.readouterr().out
    assert "| worker | task apply_inventory | 75% | 1.5 |" in table
    assert "| worker | Celery: task events, for Flower | 25% | 0.5 |" in table
    assert "| postgres | (not profiled) | 100% | 5.0 |" in table
    assert "| client |" not in table  # the load, not the stack
    assert "(7.0 in all)" in table


def test_the_report_of_a_run_without_its_profiles_or_not_a_run_says_so(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(profile_report, "WORK", tmp_path)
    assert profile_report.main([str(_run(tmp_path, {"worker": 2.0}))]) == 2
    assert "no profile of open30" in capsys.readouterr().err
    for text in ("[1]", "{", '{"when": 3}'):
        (tmp_path / "bad.json").write_text(text)
        assert profile_report.main([str(tmp_path / "bad.json")]) == 2
        assert "is not a run of bench/load.py" in capsys.readouterr().err
