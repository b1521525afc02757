"""The three parts of bench/streams.py: the idle connections one web process holds
(held), the delay from commit to event at a steady rate (delay), and the channel layer's
Redis restarted under open connections (restart)."""

import asyncio
import time

import percentiles
from common import say
from stream_load import Pool, notify, wait_delivered
from stream_web import cpu_seconds, py_spy_summary, sample

TARGET_P99_MS = 1000.0
# "Promptly", for one notification at a level of open streams: the delay target.
PROMPT_MS = TARGET_P99_MS


# --- Part 1: streams one process holds --------------------------------------------------------


async def held(args, web, users, creator, database_url: str) -> dict:
    worker = web.wait_ready()[0]
    pool = Pool(web.port, users, args.transport)
    say(f"  web worker pid {worker.pid}, port {web.port} (log: {web.log_path})")
    result = {"worker_pid": worker.pid, "baseline": sample(worker, database_url), "steps": []}
    try:
        for level in args.levels:
            step = await held_level(args, level, pool, worker, users, creator, database_url)
            step["worker_alive"] = worker.is_running() and web.workers() == [worker]
            result["steps"].append(step)
            if not step["worker_alive"]:
                say("    the web worker died or was replaced; stopping")
                break
            if pool.failed or step["dropped"]:
                say("    streams failed or dropped; stopping here")
                break
        if args.py_spy:
            result["py_spy"] = py_spy_summary(worker.pid, f"{len(pool.alive())}-streams")
            if result["py_spy"]:
                say(f"  py-spy: {result['py_spy']['threads']} threads ({result['py_spy']['file']})")
    finally:
        await pool.close()
    if settled := await after_close(worker, result["baseline"], database_url):
        result["after_close"] = settled
    return result


async def held_level(args, level, pool, worker, users, creator, database_url) -> dict:
    """Open streams up to `level`, then: idle CPU over a heartbeat period, what the worker
    holds, one notification to one user (a few times), one to every user at once."""
    say(f"  level {level}: opening streams")
    opened = await pool.open_up_to(level)
    await asyncio.sleep(1)
    say(f"    {len(pool.alive())} open; idle for {args.idle_seconds:g}s")
    heartbeats = sum(s.heartbeats for s in pool.streams)
    cpu0, t0 = cpu_seconds([worker]), time.perf_counter()
    await asyncio.sleep(args.idle_seconds)
    idle_cpu = (cpu_seconds([worker]) - cpu0) / (time.perf_counter() - t0) * 100
    heartbeats = sum(s.heartbeats for s in pool.streams) - heartbeats
    stats = sample(worker, database_url)
    say("    one notification to one user, then one to every user")
    one_user = [
        await notify(pool, creator, [users[n % len(users)][0]]) for n in range(args.broadcasts)
    ]
    every_user = await notify(pool, creator, [uid for uid, _ in users])
    alive = len(pool.alive())
    step = {
        "level": level,
        "open": alive,
        "failed": len(pool.failed),
        "dropped": len(pool.streams) - alive,
        **opened,
        **stats,
        "idle_cpu_pct": round(idle_cpu, 2),
        "idle_seconds": args.idle_seconds,
        "heartbeats_in_idle": heartbeats,
        "one_user": one_user,
        "one_user_max_ms": worst([b["max_ms"] for b in one_user]),
        "one_user_delivered": all(b["delivered"] == b["streams"] for b in one_user),
        "every_user": every_user,
    }
    say(
        f"    -> {alive} open, {len(pool.failed)} failed, RSS {stats['rss_mb']} MB, "
        f"threads {stats['threads']}, fds {stats['fds']}, DB conns {stats['db_conns']}, "
        f"idle CPU {idle_cpu:.1f}%, one user {step['one_user_max_ms']} ms, "
        f"every user {every_user['max_ms']} ms "
        f"({every_user['delivered']}/{every_user['streams']})"
    )
    return step


async def after_close(worker, baseline: dict, database_url: str) -> dict | None:
    """What closing every stream gives back (a stream never cleaned up would show here).
    Threads take a while: each closed stream's is joined by a thread of its own."""
    started, settled = time.perf_counter(), None
    while worker.is_running() and time.perf_counter() - started < 30:
        await asyncio.sleep(0.5)
        settled = sample(worker, database_url)
        if settled["threads"] <= baseline["threads"] + 8:
            break
    if settled:
        settled["seconds"] = round(time.perf_counter() - started, 1)
        say(f"  all closed, {settled['seconds']}s later: {settled}")
    return settled


def worst(values: list[float | None]) -> float | None:
    """The largest, or None when any is missing (a stream that never got it)."""
    return None if any(v is None for v in values) else max(values, default=None)


def streams_held(steps: list[dict]) -> int:
    """The highest level at which every stream opened and stayed open, and every stream
    got its notification promptly."""
    best = 0
    for step in steps:
        if (
            step["failed"] == 0
            and step["dropped"] == 0
            and step["worker_alive"]
            and step["one_user_delivered"]
            and (step["one_user_max_ms"] or 0) <= PROMPT_MS
        ):
            best = step["open"]
        else:
            break
    return best


# --- Parts 2 and 3: notifications at a steady rate ------------------------------------------


async def steady(
    pool, users, creator, *, rate: float, seconds: float, what: str, alongside=None
) -> tuple[list, float]:
    """Notifications created at `rate`/s for `seconds`, to the users in turn, on a fixed
    schedule whatever each commit takes (an open loop), with `alongside` running too:
    ([(notification id, commit time, the streams of its user)], seconds it took)."""
    created: list[tuple[int, float, list]] = []
    started = time.perf_counter()

    async def one(n: int):
        uid = users[n % len(users)][0]
        streams = pool.of_user(uid)
        ids, committed = await creator.create([uid], f"bench: {what} {n}")
        created.append((ids[0], committed, streams))

    tasks = [asyncio.create_task(alongside)] if alongside else []
    for n in range(int(rate * seconds)):
        wait = started + n / rate - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    return created, time.perf_counter() - started


def arrivals(created: list) -> tuple[list[float], int]:
    """(commit-to-event delays in ms, events that did not arrive) of `steady`'s list."""
    delays, missed = [], 0
    for event_id, committed, streams in created:
        for stream in streams:
            if event_id in stream.received:
                delays.append((stream.received[event_id] - committed) * 1000)
            else:
                missed += 1
    return delays, missed


async def reporting(created: list, started: float) -> None:
    """Every 5 s: notifications created, events arrived, their p99 so far."""
    while True:
        await asyncio.sleep(5)
        delays, _ = arrivals(created)
        p99 = percentiles.pct(delays, 99) or 0.0
        say(
            f"    {time.perf_counter() - started:4.0f}s  created {len(created):5d}  "
            f"events {len(delays):5d}  p99 so far {p99:.1f} ms"
        )


async def delay(args, web, users, creator) -> dict:
    workers = web.wait_ready()
    pool = Pool(web.port, users, args.transport)
    say(f"  {len(workers)} web workers, port {web.port}; opening {args.delay_streams} streams")
    try:
        opened = await pool.open_up_to(args.delay_streams)
        per_worker = [
            sum(1 for c in w.net_connections("tcp") if c.laddr.port == web.port and c.raddr)
            for w in workers
        ]
        say(
            f"  {len(pool.alive())} open ({per_worker} per worker); {args.rate:g}/s "
            f"for {args.seconds:g}s"
        )
        await asyncio.sleep(1)
        cpu0 = cpu_seconds(workers)
        created: list = []
        reporter = asyncio.create_task(reporting(created, time.perf_counter()))
        try:
            made, took = await steady(
                pool, users, creator, rate=args.rate, seconds=args.seconds, what="message"
            )
            created += made
            await wait_delivered({i: ss for i, _, ss in created}, timeout=5)
        finally:
            reporter.cancel()
        cpu = cpu_seconds(workers) - cpu0
        return {
            "workers": len(workers),
            "streams_per_worker": per_worker,
            **{f"open_{k}": v for k, v in opened.items()},
            "rate_achieved": round(len(created) / took, 1),
            **delivery(pool, created),
            "web_cpu_ms_per_notification": round(cpu / len(created) * 1000, 2),
        }
    finally:
        await pool.close()


def delivery(pool, created: list) -> dict:
    """What reached the streams of `steady`'s notifications: counts and percentiles."""
    delays, missed = arrivals(created)
    return {
        "streams": len(pool.alive()),
        "notifications": len(created),
        "events_expected": sum(len(ss) for _, _, ss in created),
        "events_missed": missed,
        "duplicates": sum(s.duplicates for s in pool.streams),
        "dropped_streams": len(pool.streams) - len(pool.alive()),
        **{f"p{p}_ms": percentiles.pct(delays, p) for p in (50, 95, 99)},
        "max_ms": max(delays) if delays else None,
        "delays_ms": [round(d, 3) for d in delays],
    }


async def restart(args, web, users, creator, broker) -> dict:
    """Notifications at 10/s for 30 s; at 10 s Redis is stopped, and started again empty
    2 s later. Every event must reach every connection of its user once: what the layer
    dropped comes from the database when the web processes see Redis back."""
    from stream_web import HEARTBEAT_SECONDS

    workers = web.wait_ready()
    pool = Pool(web.port, users, args.transport)

    async def outage():
        await asyncio.sleep(10)
        say("    stopping Redis")
        await asyncio.to_thread(broker.stop)
        await asyncio.sleep(2)
        await asyncio.to_thread(broker.start)
        say("    Redis started again, empty")

    try:
        await pool.open_up_to(args.delay_streams)
        await asyncio.sleep(1)
        created, _ = await steady(
            pool, users, creator, rate=10.0, seconds=30.0, what="restart", alongside=outage()
        )
        # The watch asks Redis once a heartbeat: give it two.
        await wait_delivered({i: ss for i, _, ss in created}, timeout=2 * HEARTBEAT_SECONDS + 5)
        found = delivery(pool, created)
        keep = (
            "streams",
            "notifications",
            "events_expected",
            "events_missed",
            "duplicates",
            "dropped_streams",
            "p50_ms",
            "max_ms",
        )
        return {"workers": len(workers), **{key: found[key] for key in keep}}
    finally:
        await pool.close()
