"""Benchmark of the live notification channels, WebSocket (/ws/notifications/) and
Server-Sent Events (GET /api/notifications/stream/): how many idle connections one web
process holds, and the delay from commit to event, for each transport in turn.

    .venv/bin/python bench/streams.py            # three parts, both transports, ~9 minutes
    .venv/bin/python bench/streams.py --quick    # a smoke run, about a minute
    .venv/bin/python bench/streams.py --transports sse

  held   ONE web process (gunicorn, 1 uvicorn worker). Streams are opened in steps
         (--levels); at each: streams open, the worker's RSS, threads, file descriptors
         and database connections, its CPU while idle over one heartbeat period, the time
         one notification takes to reach every stream of its recipient, and one to every
         user at once (every open stream gets an event).
  delay  Two web processes, as `make run` starts them, and 100 streams over 50 users:
         notifications created at 50/s for 20 s; commit-to-event delay p50/p95/p99/max,
         and every event that did not reach a stream of its recipient.
  restart  The same, at 10/s for 30 s, with the channel layer's Redis stopped at 10 s and
         started again, empty, 2 s later: every event must still arrive, once.

The web processes run the command `make run` uses (devstack.services.service_argv), against a
fresh database (PostgreSQL when DATABASE_URL points at one, else SQLite) and a Redis of
their own (see PrivateRedis; --redis-url to use one anyway). Notifications are created
in this process (Django set up here with the web's environment) and the streams are read
here too, with the tests' own clients (tests/support/streams.py), so commit and receipt
are timed on one clock (time.perf_counter). Percentiles are HdrHistogram's.

It prints a table, writes the raw numbers to bench/results/streams.json and draws
bench/results/streams.png.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import psutil
from common import RESULTS, say
from stack import Broker, fresh_database
from stream_load import TRANSPORTS, USERS, Creator, create_users, setup_django
from stream_parts import delay, held, restart, streams_held
from stream_report import LABELS, plot, report
from stream_web import HEARTBEAT_SECONDS, PrivateRedis, Web, migrate, raise_fd_limit, web_env

from devstack.stack import Guard


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="a smoke run: small and short")
    add("--levels", help="open streams to step through (default 250..2000)")
    add("--rate", type=float, default=50, help="notifications/s (default 50)")
    add("--seconds", type=float, help="at --rate (default 20)")
    add("--delay-streams", type=int, default=100)
    add("--delay-workers", type=int, default=2)
    add(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "sqlite:///"),
        help="server for the bench database (default: DATABASE_URL, else SQLite)",
    )
    add("--redis-url", help="a Redis to use (emptied) instead of one started for the run")
    add(
        "--no-py-spy",
        dest="py_spy",
        action="store_false",
        help="skip the py-spy dump of the worker at the last level",
    )
    add("--out", default=str(RESULTS / "streams.json"))
    add("--parts", default="held,delay,restart", help="which parts (default held,delay,restart)")
    add("--transports", default="websocket,sse", help="which, in turn (default websocket,sse)")
    args = parser.parse_args()
    args.transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = set(args.transports) - set(TRANSPORTS)
    if unknown:
        parser.error(f"unknown transport(s): {', '.join(sorted(unknown))}")
    default_levels = "50,100" if args.quick else "250,500,1000,1500,2000"
    args.levels = [int(n) for n in (args.levels or default_levels).split(",")]
    args.seconds = args.seconds or (5 if args.quick else 20)
    args.idle_seconds = 3 if args.quick else HEARTBEAT_SECONDS
    args.broadcasts = 2 if args.quick else 3
    return args


def interrupted(signum, _frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_parts(args, env, users, creator, broker, guard, database_url) -> dict:
    """Each part for each transport in turn, a web service of its own for each."""
    results: dict[str, dict] = {}
    for transport in args.transports:
        args.transport = transport
        result = results[transport] = {}
        label = LABELS[transport]
        if "held" in args.parts:
            say(f"\n== {label}, held: idle connections of one web process, levels {args.levels}")
            with running(Web(env, workers=1, label=f"held-{transport}", guard=guard)) as web:
                limit = psutil.Process(web.wait_ready()[0].pid).rlimit(psutil.RLIMIT_NOFILE)
                say(f"  web worker RLIMIT_NOFILE {limit[0]} (hard {limit[1]})")
                args.web_limit = list(limit)
                result["held"] = asyncio.run(held(args, web, users, creator, database_url))
        if "delay" in args.parts:
            say(f"\n== {label}, delay: commit to event at {args.rate:g}/s for {args.seconds:g}s")
            web = Web(env, workers=args.delay_workers, label=f"delay-{transport}", guard=guard)
            with running(web):
                result["delay"] = asyncio.run(delay(args, web, users, creator))
        if "restart" in args.parts and isinstance(broker, PrivateRedis):
            say(f"\n== {label}, restart: Redis restarted under open connections")
            web = Web(env, workers=args.delay_workers, label=f"restart-{transport}", guard=guard)
            with running(web):
                result["restart"] = asyncio.run(restart(args, web, users, creator, broker))
    return results


class running:
    """A web service for a `with` block: stopped at its end, however it ends."""

    def __init__(self, web: Web):
        self.web = web

    def __enter__(self) -> Web:
        return self.web

    def __exit__(self, *exc) -> None:
        self.web.stop()


def measure(args, guard: Guard) -> tuple[dict, str]:
    """(results by transport, the database's URL): the parts on a fresh database."""
    broker = creator = None
    try:
        database_url = fresh_database(args.database_url, "streams")
        broker = Broker(args.redis_url) if args.redis_url else PrivateRedis(guard)
        env = web_env(database_url, broker.url)
        say(f"  database {database_url}, Redis {broker.url}; migrating")
        migrate(env)
        setup_django(env)
        users = create_users(USERS)
        creator = Creator()
        return run_parts(args, env, users, creator, broker, guard, database_url), database_url
    finally:
        if creator:
            creator.stop()
        if broker:
            broker.stop()
        guard.release()


def fd_limit(levels: list[int]) -> tuple[tuple[int, int], str]:
    """Open files: the limit raised to the hard one, and a note saying whether it is enough."""
    limit = raise_fd_limit()
    # Each stream is a socket here and one there; the web process's other descriptors come
    # on top (see "fds" in the table).
    needed = max(levels) + 200
    fd_note = f"RLIMIT_NOFILE {limit[0]} (hard {limit[1]})"
    if limit[0] < needed:
        fd_note += f": LIMITED, fewer than the {needed} the top level needs"
    return limit, fd_note


def main() -> None:
    args = arguments()
    # Ctrl-C and SIGTERM alike unwind through the `finally` that stops what we started.
    # A handler of our own also keeps asyncio.run from installing its SIGINT handler,
    # which only cancels the main task (a cancellation that can get lost on 3.11).
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    limit, fd_note = fd_limit(args.levels)
    # Other work on the machine skews every figure here: say how busy it was.
    load_before = os.getloadavg()
    say(f"== streams benchmark; {fd_note}; load average {load_before[0]:.2f}")
    args.web_limit = None
    results, database_url = measure(args, Guard())
    lines = [line for transport, result in results.items() for line in report(result, transport)]
    print("\n".join(lines))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": sys.version.split()[0],
                    "loadavg_1m_before_after": [load_before[0], os.getloadavg()[0]],
                },
                "database": "postgresql" if database_url.startswith("postgres") else "sqlite",
                "fd_limit": {"bench": limit, "web_worker": args.web_limit},
                "heartbeat_seconds": HEARTBEAT_SECONDS,
                "quick": args.quick,
                "transports": {
                    transport: {
                        "held_ok": streams_held(result.get("held", {}).get("steps", [])),
                        **result,
                    }
                    for transport, result in results.items()
                },
                "table": lines,
            },
            indent=1,
        )
    )
    png = out.with_suffix(".png")
    plot(results, png)
    say(f"\nraw numbers: {out}\nplot: {png}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as exc:
        say(f"\nbench: interrupted ({exc or 'SIGINT'}); everything it started is stopped")
        sys.exit(130)
