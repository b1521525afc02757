"""bench/load.py's tables: the figures against their targets, the CPU an order costs each
design by process kind, the rate searches' probes, and every phase in a row."""

from common import fmt, row
from cpu import APART, BACKGROUND, STACK
from figures import FIGURES


def ratio(a: tuple | None, b: tuple | None) -> str:
    if a and a[0] and b and b[0] is None and b[1:] == ():
        return "sync: none"  # a rate search the synchronous design failed at every rate
    if not a or not b or not a[0] or not b[0]:
        return "-"
    return f"{a[0] / b[0]:.2f}x"


def times_met(cell: str, target: str) -> str:
    """'yes' when a ratio cell meets a target such as '>= 1.5x sync'."""
    if cell == "sync: none":
        return "yes"
    if cell == "-":
        return "no"
    return "yes" if float(cell[:-1]) >= float(target.split()[1][:-1]) else "no"


def report(runs: dict, sql: dict, phases: list, scrape: dict | None = None) -> list[str]:
    variants = [v for v in runs if v in ("async", "sync")] or list(runs)
    both = variants == ["async", "sync"]
    header = ["figure", *variants, *(["async/sync"] if both else []), "target", "met"]
    lines = ["", row(*header), row(*["---"] * len(header))]
    lines += figure_rows(runs, variants, both)
    lines += events_cost(runs, len(variants) + both)
    lines += round_rows(runs, variants, both)
    blank = [""] * (len(variants) - 1 + both)
    lines += measured_rows(runs, sql, scrape or {}, blank)
    lines += cpu_rows(runs, variants)
    lines += search_probes(runs)
    lines += phase_rows(runs, phases)
    return lines


def figure_rows(runs: dict, variants: list[str], both: bool) -> list[str]:
    lines = []
    for figure in FIGURES:
        values = [figure.values(runs[v]) for v in variants]
        cells = [fmt(v) for v in values] + ([ratio(values[0], values[1])] if both else [])
        met = figure.met(runs[variants[0]])
        if figure.target.endswith("x sync") and both:
            met = times_met(ratio(values[0], values[1]), figure.target)
        lines.append(row(figure.label, *cells, figure.target, met))
    return lines


def round_rows(runs: dict, variants: list[str], both: bool) -> list[str]:
    lines = []
    for phase in ("closed", "closed200"):
        by_round = [runs[v].get(phase, {}).get("rounds_orders_per_s") or [] for v in variants]
        if not any(by_round):
            continue
        cells = [" / ".join(fmt(x) for x in r) or "-" for r in by_round]
        if both and len(by_round[0]) == len(by_round[1]):
            ratios = sorted(a / b for a, b in zip(*by_round, strict=True) if b)
            cells.append(f"{ratios[0]:.2f}x to {ratios[-1]:.2f}x" if ratios else "-")
        elif both:
            cells.append("-")
        lines.append(row(f"{phase} orders/s, round by round", *cells, "", ""))
    return lines


def measured_rows(runs: dict, sql: dict, scrape: dict, blank: list[str]) -> list[str]:
    """SQL per checkout and the /metrics scrape (in process), worker CPU per task."""
    lines = []
    if sql:
        flat = sql.get("1") == sql.get("50") and max(sql.values()) <= 15
        lines.append(
            row(
                "SQL statements per checkout (1 / 50 lines)",
                f"{sql.get('1')} / {sql.get('50')}",
                *blank,
                "<= 15, flat",
                "yes" if flat else "no",
            )
        )
    if scrape:
        lines.append(
            row(
                "GET /metrics with 10,000 orders, p50 / p95 (ms)",
                f"{scrape['scrape_p50_ms']} / {scrape['scrape_p95_ms']}",
                *blank,
                "< 50",
                "yes" if scrape["scrape_p95_ms"] < 50 else "no",
            )
        )
    cpu = runs.get("async", runs.get("given", {})).get("open30", {}).get("cpu_ms_per_order", {})
    if worker_ms := (cpu.get("worker") or 0) + (cpu.get("mail") or 0):
        per_task = worker_ms / 3
        lines.append(
            row(
                "worker CPU per side-effect task at 30/s (ms)",
                f"{per_task:.1f}",
                *blank,
                "<= 5",
                "yes" if per_task <= 5 else "no",
            )
        )
    return lines


def stack_ms(cpu: dict, kinds=STACK) -> float:
    return sum(cpu.get(kind) or 0.0 for kind in kinds)


def cpu_rows(runs: dict, variants: list[str]) -> list[str]:
    """CPU ms per order by process kind, the stack's total and its ratio between the
    designs; then web and background apart at 30 orders/s."""
    both = variants == ["async", "sync"]
    header = ["variant, phase", *STACK, "stack total", *(f"{k} (apart)" for k in APART)]
    title = (
        "CPU ms per order, by process kind (the stack's total counts every process of "
        "the shop, side effects included; the load client, the SMTP server and runstack "
        "are shown apart):"
    )
    lines = ["", title, "", row(*header), row(*["---"] * len(header))]
    for phase in ("closed", "closed200", "open30"):
        cpus = {v: runs[v].get(phase, {}).get("cpu_ms_per_order", {}) for v in variants}
        for variant, cpu in cpus.items():
            if cpu:
                kinds = [fmt(cpu.get(k)) for k in STACK]
                apart = [fmt(cpu.get(k)) for k in APART]
                lines.append(row(f"{variant}, {phase}", *kinds, fmt(stack_ms(cpu)), *apart))
        if both and all(cpus.values()):
            total = ratio((stack_ms(cpus["async"]),), (stack_ms(cpus["sync"]),))
            lines.append(row(f"async/sync, {phase}", *[""] * len(STACK), total, *[""] * len(APART)))
    return lines + split_at_30(runs, variants)


def split_at_30(runs: dict, variants: list[str]) -> list[str]:
    cpus = [runs[v].get("open30", {}).get("cpu_ms_per_order", {}) for v in variants]
    if not any(cpus):
        return []
    both = variants == ["async", "sync"]
    header = ["at 30 orders/s, CPU ms per order", *variants, *(["async/sync"] if both else [])]
    lines = ["", row(*header), row(*["---"] * len(header))]
    parts = [
        ("web: its cart, item and checkout requests", ("web",)),
        ("background: relay, workers, beat, Flower", BACKGROUND),
        ("the stack: every process, side effects included", STACK),
    ]
    for label, kinds in parts:
        values = [stack_ms(cpu, kinds) if cpu else None for cpu in cpus]
        extra = [ratio((values[0],), (values[1],))] if both else []
        lines.append(row(label, *[fmt(v) for v in values], *extra))
    return lines


def events_cost(runs: dict, cells: int) -> list[str]:
    """The closed loop with task events on (async) and off (async-noevents): its cost."""
    on = runs.get("async", {}).get("closed", {})
    off = runs.get("async-noevents", {}).get("closed", {})
    if not on.get("orders_per_s") or not off.get("orders_per_s"):
        return []
    cost = 1 - on["orders_per_s"] / off["orders_per_s"]
    rounds = " / ".join(fmt(x) for x in off.get("rounds_orders_per_s") or [])
    value = f"{fmt(on['orders_per_s'])} on, {fmt(off['orders_per_s'])} off: {cost:.1%}"
    return [
        row(
            "task events: closed-loop orders/s, cost",
            value,
            *[""] * (cells - 1),
            "<= 10%",
            "yes" if cost <= 0.10 else "no",
        ),
        row(
            "task events off: closed orders/s, round by round", rounds, *[""] * (cells - 1), "", ""
        ),
    ]


def search_probes(runs: dict) -> list[str]:
    lines = []
    for variant, phases in runs.items():
        for name, summary in phases.items():
            if "probes" not in summary:
                continue
            steps = ", ".join(
                f"{p['rate']:g}/s {p['why_not'] or 'kept'}" for p in summary["probes"]
            )
            lines.append(f"- {variant}, {name}: {steps}")
    return (
        [
            "",
            "Sustainable-rate probes (checkout p99 <= 100 ms, side effects p99 <= 1 s):",
            "",
            *lines,
        ]
        if lines
        else []
    )


def phase_rows(runs: dict, phases: list) -> list[str]:
    lines = ["", "Per phase (side effects: the slowest kind's lag, from /metrics):", ""]
    columns = ["variant", "phase", "orders", "errors", "orders/s", "checkout p50/p95/p99 ms"]
    columns += ["side effects p50/p95/p99 ms", "queued at end", "drain s: effects / queues"]
    columns += ["emails/s", "SMTP conns"]
    lines += [row(*columns), row(*["---"] * len(columns))]
    for variant in runs:
        for phase in phases:
            s = runs[variant].get(phase.name)
            if not s or phase.kind == "search":
                continue
            checkout = tuple(s[f"checkout_{p}_ms"] for p in ("p50", "p95", "p99"))
            effects = tuple(s[f"side_effects_{p}_ms"] for p in ("p50", "p95", "p99"))
            lines.append(
                row(
                    variant,
                    phase.label,
                    s["orders"],
                    s["errors"],
                    fmt(s["orders_per_s"]),
                    fmt(checkout),
                    fmt(effects),
                    s["queued_at_end"],
                    fmt((s["effects_drain_s"], s["drain_s"])),
                    fmt(s["emails_per_s"]),
                    s["smtp_connections"],
                )
            )
    return lines
