"""What bench/load.py compares Shopflow against, and how: the variants it can run, which
of them is the baseline, and the async/baseline ratios of the report. Pure functions."""

SHOPFLOW = "async"
# The headline baseline: the plain synchronous design Shopflow replaces (bench/plain).
BASELINE = "plain"
HOW = {
    "async": "Shopflow: side effects in Celery workers",
    "plain": "the plain design (bench/plain): side effects in the request, no Celery",
    "sync": "Shopflow in Celery's eager mode: its side effects, outbox and all, in the request",
    "async-noevents": "Shopflow, task events off (closed loop only)",
}
DEFAULT = f"{SHOPFLOW},{BASELINE}"
# The designs whose checkout answers once its side effects are done: a rate search asks
# of them the checkout alone.
IN_REQUEST = ("plain", "sync")
# The one with no side-effect state nor /metrics: its lag is zero by construction.
NO_LAG = ("plain",)
# Shopflow's own variants: a stack of runstack's with a Redis database of its own.
NEEDS_BROKER = ("async", "sync", "async-noevents")
# The columns of the report, in this order; each after Shopflow gets a ratio to it.
MAIN = (SHOPFLOW, BASELINE, "sync")


def chosen_variants(text: str) -> list[str]:
    """--variants as a list: known names, each once, Shopflow's first when it is there
    (every ratio is Shopflow's to another); a ValueError saying what is wrong otherwise."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ValueError("--variants names none")
    unknown = [name for name in names if name not in HOW]
    if unknown:
        raise ValueError(f"unknown variants {', '.join(unknown)}: choose among {', '.join(HOW)}")
    if len(set(names)) != len(names):
        raise ValueError("--variants names one twice")
    if "async-noevents" in names and SHOPFLOW not in names:
        raise ValueError("async-noevents takes turns with async: name both")
    return sorted(names, key=lambda name: (name != SHOPFLOW, list(HOW).index(name)))


def columns(variants) -> list[str]:
    """The variants the report gives a column, Shopflow's first, then the baseline."""
    return [name for name in MAIN if name in variants] or list(variants)


def compared(variants) -> list[str]:
    """The variants Shopflow is compared with, a ratio column each: the baseline first."""
    shown = columns(variants)
    return shown[1:] if shown[0] == SHOPFLOW else []


def ratio(a: float | None, b: float | None) -> float | None:
    """Shopflow's figure over the other design's, or None when either is missing or 0."""
    if not a or not b:
        return None
    return a / b


def ratio_cell(a: tuple | None, b: tuple | None, failed: str | None = None) -> str:
    """The table's cell of a ratio of two one-value figures: '1.23x', or '-' when either
    is missing. With `failed` (the other design's name, for a rate search): '<name>: none'
    when Shopflow found a sustainable rate and the other design none."""
    if failed and a and a[0] and b and len(b) == 1 and b[0] is None:
        return f"{failed}: none"
    value = ratio(a[0] if a else None, b[0] if b else None)
    return "-" if value is None else f"{value:.2f}x"


def ratio_met(cell: str, target: str) -> str:
    """'yes' when a ratio cell meets a target such as '>= 1.5x plain' or '<= 1.0x plain'."""
    if cell.endswith(": none"):
        return "yes" if target.startswith(">=") else "no"
    if cell == "-":
        return "no"
    sign, bound = target.split()[:2]
    value, limit = float(cell[:-1]), float(bound[:-1])
    return "yes" if (value >= limit if sign == ">=" else value <= limit) else "no"


def ratio_target(target: str) -> str | None:
    """The design a target such as '>= 1.5x plain' is a ratio to, or None."""
    words = target.split()
    return words[2] if len(words) == 3 and words[1].endswith("x") else None


# The headline figures: (phase, summary key) whose async/baseline ratio the JSON gives.
HEADLINE = {
    "cpu_ms_per_order_closed": ("closed", "stack_cpu_ms_per_order"),
    "cpu_ms_per_order_at_30": ("open30", "stack_cpu_ms_per_order"),
    "orders_per_s_closed": ("closed", "orders_per_s"),
    "orders_per_s_closed_smtp200": ("closed200", "orders_per_s"),
}


def headline(summaries: dict) -> dict:
    """{"async/plain": {figure: ratio or None}, ...}: Shopflow's headline figures over each
    other design's, of bench/load.py's summaries by variant and phase."""
    ratios = {}
    for other in compared(summaries):
        ratios[f"{SHOPFLOW}/{other}"] = {
            figure: _rounded(
                ratio(
                    summaries[SHOPFLOW].get(phase, {}).get(key),
                    summaries[other].get(phase, {}).get(key),
                )
            )
            for figure, (phase, key) in HEADLINE.items()
        }
    return ratios


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
