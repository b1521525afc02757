"""The profile's parts (bench/profile_parts.py): each stack py-spy samples goes to the part
of the work it is in, the innermost that its rules name."""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import profile_report
from profile_parts import part_of, parts

SERVER = ["run (gunicorn/app/wsgiapp.py:66)", "Runner.run (asyncio/runners.py:118)"]
THREAD = [
    "Thread.run (threading.py:982)",
    "_WorkItem.run (concurrent/futures/thread.py:58)",
    "WSGIResponder.wsgi (a2wsgi/wsgi.py:256)",
]
DJANGO = [*THREAD, "WSGIHandler.__call__ (django/core/handlers/wsgi.py:124)"]
DISPATCH = "APIView.dispatch (rest_framework/views.py:523)"
TRACER = [
    "asynloop (celery/worker/loops.py:130)",
    "build_tracer.<locals>.trace_task (celery/app/trace.py:564)",
    "SideEffectTask.__call__ (side_effects/base.py:59)",
]


def test_a_views_work_is_its_own_and_its_signals_receivers_apart():
    view = [*DJANGO, DISPATCH, "OrderListCreateView.post (store/views.py:244)"]
    assert part_of([*view, "order_place (store/services/checkout.py:47)"]) == (
        "view OrderListCreateView.post"
    )
    receivers = [*view, "Signal.send_robust (django/dispatch/dispatcher.py:306)"]
    assert part_of(receivers) == "view OrderListCreateView.post: its signal's receivers"
    drf = [*DJANGO, DISPATCH, "APIView.initial (rest_framework/views.py:414)"]
    assert part_of(drf).startswith("DRF around the views")


def test_the_way_to_a_view_is_the_servers_a2wsgis_or_djangos():
    assert part_of([*SERVER, "HttpToolsProtocol.data_received (uvicorn/x.py:1)"]).startswith(
        "server"
    )
    assert part_of(THREAD).startswith("a2wsgi")
    assert part_of([*DJANGO, "SessionMiddleware.process_request (x.py:1)"]).startswith("Django")


def test_a_tasks_body_is_named_by_its_task_and_celerys_hand_off_is_apart():
    body = [*TRACER, "apply_inventory (store/tasks.py:18)", "inventory_apply (stock.py:69)"]
    assert part_of(body) == "task apply_inventory"
    assert part_of(TRACER).startswith("Celery: the rest")
    events = ["asynloop (celery/worker/loops.py:130)", "EventDispatcher.flush (x.py:240)"]
    assert part_of(events) == "Celery: task events, for Flower"
    ack = ["asynloop (celery/worker/loops.py:130)", "Channel.basic_ack (kombu/x.py:680)"]
    assert part_of(ack) == "Celery: acknowledging"


def test_a_stack_read_cut_short_is_not_placed_and_samples_add_up_by_part():
    cut = ["BaseCursor._execute_gen (psycopg/_cursor_base.py:211)"]
    assert part_of(['process 1:"python -m celery worker"', *cut]).startswith("not placed")
    body = [*TRACER, "record_analytics (analytics_app/tasks.py:14)"]
    assert parts([(cut, 1), (body, 5), (body, 2)]) == {
        "task record_analytics": 7,
        "not placed: stacks read cut short": 1,
    }


def test_the_report_splits_each_processes_cpu_an_order_by_its_parts(tmp_path, capsys, monkeypatch):
    body = ";".join([*TRACER, "apply_inventory (store/tasks.py:18)"])
    events = "asynloop (celery/worker/loops.py:130);EventDispatcher.flush (x.py:240)"
    profile = tmp_path / "profile-async-open30-worker-42.txt"
    profile.write_text(f'process 42:"celery";{body} 3\n{events} 1\n')
    run = tmp_path / "run.json"
    when = datetime.now(UTC).isoformat(timespec="seconds")
    cpu = {"worker": 2.0, "web": 20.0}
    run.write_text(
        json.dumps({"when": when, "summary": {"async": {"open30": {"cpu_ms_per_order": cpu}}}})
    )
    monkeypatch.setattr(profile_report, "WORK", tmp_path)
    assert profile_report.main([str(run), "--phase", "open30"]) == 0
    table = capsys.readouterr().out
    assert "| worker | task apply_inventory | 75% | 1.5 |" in table
    assert "| worker | Celery: task events, for Flower | 25% | 0.5 |" in table
    assert "| web |" not in table  # no profile of it: no row
    assert profile_report.main([str(tmp_path / "none.json")]) == 2
    assert "is not a run of bench/load.py" in capsys.readouterr().err
