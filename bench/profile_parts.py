"""Where a profiled process's CPU goes, by part of its work: a request's way through the
server, a2wsgi's threads, Django, DRF and each view (the rows its signal's receivers
write, and their calls, apart); a task's body against Celery's hand-off around it
(receiving, acknowledging, the events Flower reads, the pool); the relay's rows against
its publishing; Flower.

A stack belongs to the first part whose rule it meets, so the order of PARTS is the
nesting: a task runs inside Celery's loop, a view inside Django's handler. Markers name
a function with its package's path, so that a name two libraries share (redis-py has an
EventDispatcher too) is not taken for the other."""

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

# "function (path:line)", outermost first, as in py-spy's raw format.
Frames = list[str]

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _function(frame: str) -> str:
    return frame.split(" (", 1)[0]


def _file(frame: str) -> str:
    return frame.rsplit(" (", 1)[-1].split(":", 1)[0]


def _has(*markers: str) -> Callable[[Frames], bool]:
    def rule(frames: Frames) -> bool:
        return any(marker in frame for frame in frames for marker in markers)

    return rule


# What a view's signal costs, apart from the view: the receivers' calls, the rows they
# gave (core.signals inserts them when the signal's block ends), the side-effect rows.
VIEW_HAND_OFF = (
    (_has("Signal.send_robust (django/"), "its signal's receivers"),
    (_has("_insert_each_isolated (core/signals.py"), "the rows its receivers gave"),
    (_has("side_effects_open (side_effects/"), "its side-effect rows"),
)


def _view(frames: Frames) -> str | None:
    """'view X.post' for a DRF view's handler; what its signal's receivers cost apart:
    their calls, and the rows they gave to write (core.signals writes them when the
    signal's block ends) with the side-effect rows the checkout opens."""
    for at, frame in enumerate(frames):
        if frame.startswith("APIView.dispatch (rest_framework/"):
            handler = frames[at + 1] if at + 1 < len(frames) else ""
            if _function(handler).rsplit(".", 1)[-1] not in HTTP_METHODS:
                return "DRF around the views: authentication, parsing, rendering"
            view = f"view {_function(handler)}"
            inner = frames[at + 1 :]
            for rule, part in VIEW_HAND_OFF:
                if rule(inner):
                    return f"{view}: {part}"
            return view
    return None


def _task(frames: Frames) -> str | None:
    """'task X' for the body of a project's task, run by Celery's tracer: the function of
    an app's tasks.py it calls."""
    for at, frame in enumerate(frames):
        if frame.startswith("build_tracer.<locals>.trace_task (celery/"):
            for inner in frames[at + 1 :]:
                path = _file(inner)
                if path.endswith("/tasks.py") and not path.startswith("celery/"):
                    return f"task {_function(inner)}"
            return None
    return None


def _named(part: str, *rules: Callable[[Frames], bool]) -> Callable[[Frames], str | None]:
    """The part when every one of `rules` holds."""
    return lambda frames: part if all(rule(frames) for rule in rules) else None


RELAY = _has(" (worker/outbox.py")
PARTS: tuple[Callable[[Frames], str | None], ...] = (
    _view,
    _named("Django: its handler and the middleware", _has("WSGIHandler.__call__ (django/")),
    _named("a2wsgi: the request's thread, to Django and back", _has(" (a2wsgi/")),
    _task,
    _named("notifications: live ones to the channel layer", _has(" (notifications/live.py")),
    _named("SMTP: the sends, in their own threads", _has(" (email_app/transport.py")),
    _named(
        "Celery: task events, for Flower",
        _has(" (celery/events/dispatcher.py", " (worker/events.py"),
    ),
    _named("Flower: the events it reads", _has(" (flower/")),
    _named("Celery: acknowledging", _has("basic_ack (kombu/", "QoS.ack (kombu/")),
    _named(
        "Celery: receiving (messages, other workers' events)",
        _has(
            "_brpop_",
            "MultiChannelPoller.",
            "_deliver (kombu/",
            " (celery/worker/strategy.py",
            " (celery/worker/consumer/gossip.py",
        ),
    ),
    _named("relay: publishing", RELAY, _has("Celery.send_task (celery/", " (kombu/")),
    _named("relay: its rows, in the database", RELAY),
    _named("Celery: the rest (the pool, the trace, the loop)", _has(" (celery/", " (billiard/")),
    _named("server: gunicorn, uvicorn, the event loop", _has(" (uvicorn", " (gunicorn/")),
    _named(
        "threads: hand-offs, wake-ups, starts and ends",
        _has(" (concurrent/futures/", "run_forever (asyncio/", "Thread._bootstrap (threading"),
    ),
)
# With --nonblocking py-spy reads a stack now and then without its outer frames.
UNPLACED = "not placed: a stack read cut short, or no rule's"


def part_of(frames: Frames) -> str:
    """The part of the work of one sampled stack ("process N:..." frames are ignored)."""
    frames = [frame for frame in frames if not frame.startswith("process ")]
    for rule in PARTS:
        part = rule(frames)
        if part:
            return part
    return UNPLACED


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
