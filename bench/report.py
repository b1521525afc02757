"""The run's figures as text (Markdown): the targets' table, the CPU an order by process
kind, and every phase in one line."""

import os
import platform

import figures
from cpu import APART, KINDS
from phases import summary

NAIVE = "naive (on_commit + delay)"


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:.0f} ms"


def times(value: float | None) -> str:
    return f"{value:.2f}x" if value else "-"


def effects(result) -> str:
    if result is None:
        return "-"
    text = f"{ms(result.effects(50))} / {ms(result.effects(99))}"
    return text + (f" ({result.unfinished} not done)" if result.unfinished else "")


def row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def steady_rows(found: dict) -> list[str]:
    ours, theirs = found["shopflow"], found["naive"]
    cpu = figures.ratio(ours.cpu_ms(), theirs.cpu_ms())
    bound, p99 = figures.EFFECTS_P99_MS, ours.effects(99)
    return [
        row(
            "CPU an order at 30/s, every process (ms)",
            f"{ours.cpu_ms():.1f}",
            f"{theirs.cpu_ms():.1f}",
            times(cpu),
            f"<= {figures.CPU_RATIO}x",
            figures.met(cpu, figures.CPU_RATIO),
        ),
        row(
            "side effects done at 30/s, p50 / p99",
            effects(ours),
            effects(theirs),
            "",
            f"p99 <= {bound:.0f} ms",
            figures.met(p99, bound),
        ),
    ]


def burst_rows(found: dict) -> list[str]:
    burst = found["shopflow"]
    peak = max((p99 for _, p99 in burst.series if p99 is not None), default=None)
    back = burst.recovery_s
    after = "not within the phase" if back is None else f"{back:g} s"
    return [
        row(
            "after a burst, then 30/s: largest p99; back under 1 s p99 in",
            f"{ms(peak)}; {after}",
            "-",
            "",
            f"within {figures.RECOVERY_SECONDS:g} s",
            figures.met(back, figures.RECOVERY_SECONDS),
        )
    ]


def search_rows(found: dict) -> list[str]:
    rate = {name: figures.sustained([(r, ok) for r, ok, _ in p]) for name, p in found.items()}
    ours, theirs = rate.get("shopflow"), rate.get("naive")
    cells = [f"{r:g}/s" if r else "none" for r in (ours, theirs)]
    label = "highest steady rate where side effects hold"
    return [row(label, *cells, times(figures.ratio(ours, theirs)), "", "")]


def slow_rows(found: dict) -> list[str]:
    ours, bound = found["shopflow"], figures.SLOW_SMTP_P99_MS
    return [
        row(
            "SMTP taking 200 ms, 20 orders/s: side effects p50 / p99",
            effects(ours),
            effects(found.get("naive")),
            "",
            f"p99 <= {bound / 1000:.0f} s",
            figures.met(ours.effects(99), bound),
        )
    ]


def closed_rows(found: dict) -> list[str]:
    rate = {name: rate_of(rounds) for name, rounds in found.items()}
    versus = figures.ratio(rate["shopflow"], rate["synchronous"])
    return [
        row(
            "closed loop of 8, SMTP taking 200 ms: orders/s",
            f"{rate['shopflow']:.1f}",
            f"synchronous: {rate['synchronous']:.1f}",
            times(versus),
            f">= {figures.ORDERS_RATIO:g}x synchronous",
            figures.met(versus, figures.ORDERS_RATIO, at_least=True),
        )
    ]


def rate_of(rounds) -> float:
    seconds = sum(r.seconds for r in rounds)
    return sum(r.orders for r in rounds) / seconds if seconds else 0.0


ROWS = {
    "steady": steady_rows,
    "burst": burst_rows,
    "search": search_rows,
    "slow-smtp": slow_rows,
    "closed-smtp": closed_rows,
}


def targets(results: dict) -> list[str]:
    lines = [row("figure", "Shopflow", NAIVE, "ratio", "target", "met"), row(*["---"] * 6)]
    for phase, rows in ROWS.items():
        if phase in results:
            lines += rows(results[phase])
    return lines


def by_kind(results: dict) -> list[str]:
    if "steady" not in results:
        return []
    ours, theirs = results["steady"]["shopflow"], results["steady"]["naive"]
    lines = ["", "CPU ms an order at 30/s, by process kind:", ""]
    lines += [row("process", "Shopflow", NAIVE), row("---", "---", "---")]
    for kind in KINDS:
        lines.append(row(kind, f"{ours.cpu_ms(kind):.1f}", f"{theirs.cpu_ms(kind):.1f}"))
    lines.append(row("**every process**", f"**{ours.cpu_ms():.1f}**", f"**{theirs.cpu_ms():.1f}**"))
    for kind in APART:
        lines.append(row(f"apart: {kind} (make run's runstack)", f"{ours.cpu_ms(kind):.1f}", "-"))
    return lines


def phases(results: dict) -> list[str]:
    lines = ["", "Every phase:", ""]
    for found in results.values():
        for design, value in found.items():
            for result in value if isinstance(value, list) else [value]:
                result = result[2] if isinstance(result, tuple) else result
                lines.append(f"- {design}, {result.phase}: {summary(result)}")
    return lines


def text(results: dict, about: dict) -> str:
    head = [
        f"# make bench, {about['when']:%Y-%m-%d %H:%M} ({about['minutes']:.0f} minutes)",
        "",
        f"Commit {about['commit']}; {os.cpu_count()} cores, Python {platform.python_version()}"
        f"{'; ' + about['options'] if about['options'] else ''}; the machine's load average "
        f"{about['load'][0]:.1f} before, {about['load'][1]:.1f} after (other work on it "
        "shares the cores: latencies are this hour's).",
        "",
    ]
    return "\n".join([*head, *targets(results), *by_kind(results), *phases(results)]) + "\n"
