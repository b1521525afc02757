"""bench/streams.py's table per transport, and its plot."""

import logging
from pathlib import Path

from common import fmt, row
from stream_load import USERS
from stream_parts import PROMPT_MS, TARGET_P99_MS, streams_held

TARGET_STREAMS = 1000
LABELS = {"websocket": "WebSocket", "sse": "Server-Sent Events"}


def met(ok: bool) -> str:
    return "met" if ok else "not met"


def report(result: dict, transport: str) -> list[str]:
    steps = result.get("held", {}).get("steps", [])
    d = result.get("delay") or {}
    lines = ["", f"== {LABELS[transport]}", ""]
    lines += [row("figure", "value", "target", "met"), row(*["---"] * 4)]
    lines += held_rows(steps)
    lines += delay_rows(d)
    r = result.get("restart") or {}
    if r:
        lines.append(
            row(
                "Redis restarted under open connections: events missed / duplicated",
                f"{r['events_missed']} / {r['duplicates']} of {r['events_expected']} "
                f"(max delay {fmt(r['max_ms'])} ms)",
                "0 / 0",
                met(r["events_missed"] == 0 and r["duplicates"] == 0),
            )
        )
    return lines + level_rows(result, d)


def held_rows(steps: list[dict]) -> list[str]:
    """The connections one web process held, and what they cost at the target."""
    best = streams_held(steps)
    tried = max((s["level"] for s in steps), default=0)
    lines = [
        row(
            "idle connections one web process holds (all open, events prompt)"
            + ("" if steps else ": not run"),
            f"{best} (tried up to {tried})",
            f">= {TARGET_STREAMS}",
            met(best >= TARGET_STREAMS),
        )
    ]
    at_target = next((s for s in steps if s["level"] == TARGET_STREAMS), None)
    if at_target:
        lines.append(
            row(
                f"  at {TARGET_STREAMS}: worker RSS / threads / DB connections",
                f"{at_target['rss_mb']} MB / {at_target['threads']} / {at_target['db_conns']}",
                "",
                "",
            )
        )
        lines.append(
            row(
                f"  at {TARGET_STREAMS}: idle CPU / one notification, last stream",
                f"{at_target['idle_cpu_pct']}% / {fmt(at_target['one_user_max_ms'])} ms",
                "",
                "",
            )
        )
    return lines


def delay_rows(d: dict) -> list[str]:
    """Commit to event at the steady rate: its percentiles, and the events missed."""
    if not d:
        return []
    p = (d["p50_ms"], d["p95_ms"], d["p99_ms"], d["max_ms"])
    return [
        row(
            f"commit to event at {d['rate_achieved']:g}/s, p50 / p95 / p99 / max (ms)",
            fmt(p),
            f"p99 <= {TARGET_P99_MS:.0f}",
            met(d["p99_ms"] is not None and d["p99_ms"] <= TARGET_P99_MS),
        ),
        row(
            "events missed at 50/s",
            f"{d['events_missed']} of {d['events_expected']}",
            "0",
            met(d["events_missed"] == 0),
        ),
    ]


def level_rows(result: dict, d: dict) -> list[str]:
    """The held part level by level, and a line on the delay part."""
    steps = result.get("held", {}).get("steps", [])
    lines = []
    columns = ["open", "failed", "opened/s", "RSS MB", "KB/stream", "threads", "fds", "DB conns"]
    columns += ["idle CPU %", "1 user: streams, max ms", "every user: delivered, max ms"]
    lines += ["", "One web process (1 uvicorn worker), by open streams:", ""]
    lines += [row(*columns), row(*["---"] * len(columns))]
    if not steps:
        return lines
    base = result["held"]["baseline"]
    for s in steps:
        per_stream = (s["rss_mb"] - base["rss_mb"]) * 1024 / s["open"] if s["open"] else None
        every = s["every_user"]
        lines.append(
            row(
                s["open"],
                s["failed"],
                fmt(s["open_per_s"]),
                s["rss_mb"],
                fmt(per_stream),
                s["threads"],
                s["fds"],
                s["db_conns"],
                s["idle_cpu_pct"],
                f"{s['one_user'][0]['streams']}, {fmt(s['one_user_max_ms'])}",
                f"{every['delivered']}/{every['streams']}, {fmt(every['max_ms'])}",
            )
        )
    after = result["held"].get("after_close")
    if after:
        lines.append(
            f"\nbaseline: {base}\nall streams closed: {after}"  # leaks would show here
        )
    if d:
        lines.append(
            f"\nAt 50/s: {d['streams']} streams over {USERS} users, {d['workers']} workers "
            f"({d['streams_per_worker']} streams each), {d['notifications']} notifications, "
            f"{d['duplicates']} duplicates, {d['dropped_streams']} streams dropped, web CPU "
            f"{d['web_cpu_ms_per_notification']} ms per notification"
        )
    return lines


def plot(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # Django's root logger is INFO
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 5))
    plot_memory(left, results)
    plot_broadcast(middle, results)
    plot_delay_cdf(right, results)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_memory(axes, results: dict[str, dict]) -> None:
    """The web process's RSS and threads by open connections, per transport."""
    for transport, result in results.items():
        label = LABELS[transport]
        steps = result.get("held", {}).get("steps", [])
        xs = [s["open"] for s in steps]
        axes.plot(xs, [s["rss_mb"] for s in steps], "o-", label=f"{label}: RSS (MB)")
        axes.plot(xs, [s["threads"] for s in steps], "s--", label=f"{label}: threads")
    axes.set_xlabel("open connections")
    axes.set_ylabel("worker RSS (MB), threads")
    axes.set_title("One web process: memory and threads")
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(True, alpha=0.3)


def plot_broadcast(axes, results: dict[str, dict]) -> None:
    """The last connection's delay by open connections: one user notified, then every user."""
    for transport, result in results.items():
        label = LABELS[transport]
        steps = result.get("held", {}).get("steps", [])
        xs = [s["open"] for s in steps]
        axes.plot(
            xs,
            [s["one_user_max_ms"] for s in steps],
            "o-",
            label=f"{label}: one user, last connection",
        )
        axes.plot(
            xs,
            [s["every_user"]["max_ms"] for s in steps],
            "s-",
            label=f"{label}: every user at once, last connection",
        )
    axes.axhline(PROMPT_MS, color="grey", lw=0.8, ls=":")
    axes.set_yscale("log")
    axes.set_xlabel("open connections")
    axes.set_ylabel("commit to event (ms)")
    axes.set_title("Broadcast latency")
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(True, which="both", alpha=0.3)


def plot_delay_cdf(axes, results: dict[str, dict]) -> None:
    """The delay part's commit-to-event CDF, per transport."""
    for transport, result in results.items():
        label = LABELS[transport]
        delays = sorted((result.get("delay") or {}).get("delays_ms", []))
        if delays:
            axes.plot(delays, [(i + 1) / len(delays) for i in range(len(delays))], label=label)
    axes.axvline(TARGET_P99_MS, color="grey", lw=0.8, ls=":")
    axes.axhline(0.99, color="grey", lw=0.8, ls=":")
    axes.set_xscale("log")
    axes.legend(loc="lower right", fontsize=8)
    axes.set_xlabel("commit to event (ms)")
    axes.set_ylabel("fraction of events")
    axes.set_title("Delay at 50 notifications/s, CDF")
    axes.grid(True, which="both", alpha=0.3)
