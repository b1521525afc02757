"""Where a profiled process's CPU goes, by part of its work: a request's way through the
server, a2wsgi's threads, Django, DRF and each view (its signal's receivers apart); a
task's body against Celery's hand-off around it (receiving, acknowledging, the events
Flower reads, the pool); the relay's rows against its publishing.

A stack belongs to the first part whose rule it meets, so the order of PARTS is the
nesting: a task runs inside Celery's loop, a view inside Django's handler."""

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

Frames = list[str]  # "function (path:line)", outermost first, as in py-spy's raw format
# (whose "process N:..." frames, which name a process, are left out)


def _function(frame: str) -> str:
    return frame.split(" (", 1)[0]


def _path(frame: str) -> str:
    return frame.rsplit(" (", 1)[-1]


def _has(*markers: str) -> Callable[[Frames], bool]:
    def rule(frames: Frames) -> bool:
        return any(marker in frame for frame in frames for marker in markers)

    return rule


def _view(frames: Frames) -> str | None:
    """'view X.post' for a DRF view's handler; its signal's receivers apart."""
    for at, frame in enumerate(frames):
        if frame.startswith("APIView.dispatch (rest_framework/"):
            handler = frames[at + 1] if at + 1 < len(frames) else ""
            if not handler or _path(handler).startswith("rest_framework/"):
                return "DRF around the views: authentication, parsing, rendering"
            view = f"view {_function(handler)}"
            if any(_function(f) == "Signal.send_robust" for f in frames[at:]):
                return f"{view}: its signal's receivers"
            return view
    return None


def _task(frames: Frames) -> str | None:
    """'task X' for the body of a project's task, run by Celery's tracer: the function of
    an app's tasks.py it calls."""
    for at, frame in enumerate(frames):
        if frame.startswith("build_tracer.<locals>.trace_task (celery/"):
            for inner in frames[at + 1 :]:
                path = _path(inner).split(":", 1)[0]
                if path.endswith("tasks.py") and not path.startswith("celery/"):
                    return f"task {_function(inner)}"
            return None
    return None


def _named(part: str, rule: Callable[[Frames], bool]) -> Callable[[Frames], str | None]:
    return lambda frames: part if rule(frames) else None


PARTS: tuple[Callable[[Frames], str | None], ...] = (
    _view,
    _named("Django: its handler and the middleware", _has("WSGIHandler.__call__")),
    _named("a2wsgi: the request's thread, to Django and back", _has("WSGIResponder.")),
    _named("notifications: live ones to the channel layer", _has("notifications/live.py")),
    _task,
    _named("SMTP: the sends, in their own threads", _has("email_app/transport.py")),
    _named("Celery: task events, for Flower", _has("EventDispatcher.")),
    _named("Flower: the events it reads", _has("flower/", "EventReceiver.")),
    _named("Celery: acknowledging", _has("basic_ack", "QoS.ack", "Message.ack")),
    _named("Celery: receiving", _has("_brpop_read", "Transport._deliver", "drain_events")),
    _named("relay: publishing", _has("Celery.send_task", "Producer.publish")),
    _named("relay: its rows, in the database", _has("relay_once", "relay_forever")),
    _named("Celery: the rest (the pool, the trace, the loop)", _has("celery/", "billiard/")),
    _named("server: gunicorn, uvicorn, the event loop", _has("uvicorn/", "gunicorn/")),
    _named(
        "threads: a pool's hand-offs, a loop's wake-ups",
        _has("concurrent/futures/thread.py", "BaseEventLoop.run_forever"),
    ),
)


def part_of(frames: Frames) -> str:
    frames = [frame for frame in frames if not frame.startswith("process ")]
    for rule in PARTS:
        part = rule(frames)
        if part:
            return part
    # With --nonblocking py-spy reads a stack now and then without its outer frames.
    return "not placed: stacks read cut short"


def parts(stacks: Iterable[tuple[Frames, int]]) -> dict[str, int]:
    """Samples by part, most first."""
    counts: dict[str, int] = {}
    for frames, count in stacks:
        part = part_of(frames)
        counts[part] = counts.get(part, 0) + count
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def stacks(raw: Path) -> Iterator[tuple[Frames, int]]:
    """(frames, samples) of each line of py-spy's raw output."""
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            yield stack.split(";"), int(count)
