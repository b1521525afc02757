"""bench/load.py's tables: the figures against their targets, Shopflow's against the plain
design's (the baseline, bench/baseline.py) and the ratio; the CPU an order costs each
design by process kind, the rate searches' probes, and every phase in a row."""

from baseline import SHOPFLOW, columns, compared, ratio_cell, ratio_met, ratio_target
from common import fmt, row
from cpu import APART, BACKGROUND, STACK
from figures import FIGURES, IN_REQUEST


def report(runs: dict, sql: dict, phases: list, scrape: dict | None = None) -> list[str]:
    variants, others = columns(runs), compared(runs)
    ratios = [f"{SHOPFLOW}/{other}" for other in others]
    header = ["figure", *variants, *ratios, "target", "met"]
    lines = ["", row(*header), row(*["---"] * len(header))]
    lines += figure_rows(runs, variants, others)
    lines += events_cost(runs, len(variants) + len(others))
    lines += round_rows(runs, variants, others)
    blank = [""] * (len(variants) - 1 + len(others))
    lines += measured_rows(runs, sql, scrape or {}, blank)
    lines += in_request_note(runs)
    lines += cpu_rows(runs, variants, others)
    lines += search_probes(runs)
    lines += phase_rows(runs, phases)
    return lines


def figure_rows(runs: dict, variants: list[str], others: list[str]) -> list[str]:
    lines = []
    for figure in FIGURES:
        values = [figure.values(runs[v]) for v in variants]
        search = figure.keys == ("sustainable_rate",)  # None there: no rate kept the objective
        ratios = [
            ratio_cell(values[0], figure.values(runs[o]), o if search else None) for o in others
        ]
        cells = [fmt(figure.cells(runs[v])) for v in variants]
        met = figure.met(runs[variants[0]])
        if against := ratio_target(figure.target):
            measured = against in others and values[0] and figure.values(runs[against])
            met = ratio_met(ratios[others.index(against)], figure.target) if measured else ""
        lines.append(row(figure.label, *cells, *ratios, figure.target, met))
    return lines


def in_request_note(runs: dict) -> list[str]:
    """Say why a design's side-effect lag reads 0: not measured, nothing to measure."""
    designs = [
        v
        for v, phases in runs.items()
        if any(s.get("side_effects_in_request") for s in phases.values())
    ]
    if not designs:
        return []
    return [
        "",
        f"{', '.join(designs)}: side-effect lag {IN_REQUEST}: its checkout answers once "
        "the email is sent, the stock moved and the analytics row written (its checkout "
        "latency includes them, the SMTP server's delay too); it keeps no lag to measure.",
    ]


def round_rows(runs: dict, variants: list[str], others: list[str]) -> list[str]:
    lines = []
    for phase in ("closed", "closed200"):
        by_round = {v: runs[v].get(phase, {}).get("rounds_orders_per_s") or [] for v in variants}
        if not any(by_round.values()):
            continue
        cells = [" / ".join(fmt(x) for x in r) or "-" for r in by_round.values()]
        for other in others:
            ours, theirs = by_round[variants[0]], by_round[other]
            ratios = sorted(a / b for a, b in zip(ours, theirs, strict=False) if a and b)
            same = ratios and len(ours) == len(theirs)
            cells.append(f"{ratios[0]:.2f}x to {ratios[-1]:.2f}x" if same else "-")
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


def cpu_rows(runs: dict, variants: list[str], others: list[str]) -> list[str]:
    """CPU ms per order by process kind, the stack's total and its ratio between the
    designs; then web and background apart at 30 orders/s."""
    header = ["variant, phase", *STACK, "stack total", *(f"{k} (apart)" for k in APART)]
    title = (
        "CPU ms per order, by process kind (the stack's total counts every process of "
        "the shop, side effects included, PostgreSQL's every backend alike for each design; "
        "the load client, the SMTP server and runstack are shown apart):"
    )
    lines = ["", title, "", row(*header), row(*["---"] * len(header))]
    for phase in ("closed", "closed200", "open30"):
        cpus = {v: runs[v].get(phase, {}).get("cpu_ms_per_order", {}) for v in variants}
        for variant, cpu in cpus.items():
            if cpu:
                kinds = [fmt(cpu.get(k)) for k in STACK]
                apart = [fmt(cpu.get(k)) for k in APART]
                lines.append(row(f"{variant}, {phase}", *kinds, fmt(stack_ms(cpu)), *apart))
        for other in others:
            if cpus[variants[0]] and cpus[other]:
                total = ratio_cell((stack_ms(cpus[variants[0]]),), (stack_ms(cpus[other]),))
                label = f"{variants[0]}/{other}, {phase}"
                lines.append(row(label, *[""] * len(STACK), total, *[""] * len(APART)))
    return lines + split_at_30(runs, variants, others)


def split_at_30(runs: dict, variants: list[str], others: list[str]) -> list[str]:
    cpus = [runs[v].get("open30", {}).get("cpu_ms_per_order", {}) for v in variants]
    if not any(cpus):
        return []
    ratios = [f"{variants[0]}/{other}" for other in others]
    header = ["at 30 orders/s, CPU ms per order", *variants, *ratios]
    lines = ["", row(*header), row(*["---"] * len(header))]
    parts = [
        ("web: its cart, item and checkout requests (plain, sync: side effects too)", ("web",)),
        ("background: relay, workers, beat, Flower", BACKGROUND),
        ("the stack: every process, side effects included", STACK),
    ]
    for label, kinds in parts:
        values = [stack_ms(cpu, kinds) if cpu else None for cpu in cpus]
        extra = [ratio_cell((values[0],), (values[variants.index(o)],)) for o in others]
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
            "Sustainable-rate probes (checkout p99 <= 100 ms, side effects p99 <= 1 s, "
            "queues flat; for the designs that answer once their side effects are done, "
            "plain and sync, the checkout alone):",
            "",
            *lines,
        ]
        if lines
        else []
    )


def phase_rows(runs: dict, phases: list) -> list[str]:
    lines = [
        "",
        "Per phase (side effects: the slowest kind's lag, from /metrics; the plain "
        "design's are done in the request):",
        "",
    ]
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
            if s.get("side_effects_in_request"):
                effects = IN_REQUEST
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
