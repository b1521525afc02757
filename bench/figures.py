"""The rows of bench/load.py's summary table: which figure of which phase, and its target.
A target such as ">= 1.0x plain" is a ratio of Shopflow's figure to the plain design's
(bench/baseline.py); one such as "<= 15" bounds Shopflow's own."""

from dataclasses import dataclass

# The figures of the side-effect lag: for a design that does its side effects in the
# request and keeps no lag of them (the plain one), zero by construction.
EFFECT_KEYS = frozenset(
    {
        "side_effects_p50_ms",
        "side_effects_p95_ms",
        "side_effects_p99_ms",
        "burst_max_lag_ms",
        "burst_recovery_s",
        "steady_effects_p99_ms",
    }
)
IN_REQUEST = "0 (in the request)"


@dataclass(frozen=True)
class Figure:
    """One row of the summary table: a figure of one phase (two for "p50 / p99")."""

    label: str
    phase: str
    keys: tuple[str, ...]
    target: str = ""
    limits: tuple[float | None, ...] = ()  # upper bounds, one per key, for async

    def values(self, summaries: dict) -> tuple | None:
        summary = summaries.get(self.phase)
        return tuple(summary.get(key) for key in self.keys) if summary else None

    def cells(self, summaries: dict) -> tuple | None:
        """values(), with the lag of side effects done in the request said to be that."""
        summary = summaries.get(self.phase)
        if not summary:
            return None
        in_request = summary.get("side_effects_in_request")
        return tuple(
            IN_REQUEST if in_request and key in EFFECT_KEYS else summary.get(key)
            for key in self.keys
        )

    def met(self, summaries: dict) -> str:
        values = self.values(summaries)
        if not self.limits or values is None:
            return ""
        pairs = [(v, limit) for v, limit in zip(values, self.limits, strict=True) if limit]
        if any(v is None for v, _ in pairs):
            return "no"
        return "yes" if all(v <= limit for v, limit in pairs) else "no"


P50_P99 = ("checkout_p50_ms", "checkout_p99_ms")
EFFECTS_P50_P99 = ("side_effects_p50_ms", "side_effects_p99_ms")
AFTER = ("steady_checkout_p99_ms", "steady_effects_p99_ms")
STACK_CPU = ("stack_cpu_ms_per_order",)
FIGURES = [
    Figure("CPU ms per order, every process, closed loop", "closed", STACK_CPU, "<= 1.0x plain"),
    Figure("CPU ms per order, every process, at 30/s", "open30", STACK_CPU, "<= 1.0x plain"),
    Figure(
        "CPU ms per order at 30/s: web (cart, item, checkout)",
        "open30",
        ("web_cpu_ms_per_order",),
        "<= 15",
        (15,),
    ),
    Figure(
        "CPU ms per order at 30/s: background (relay, workers, beat, Flower)",
        "open30",
        ("background_cpu_ms_per_order",),
        "<= 5",
        (5,),
    ),
    Figure("closed-loop orders/s", "closed", ("orders_per_s",), ">= 1.0x plain"),
    Figure(
        "closed-loop orders/s, side effects done",
        "closed",
        ("orders_done_per_s",),
        ">= 1.0x plain",
    ),
    Figure("closed-loop orders/s, SMTP 200 ms", "closed200", ("orders_per_s",)),
    Figure(
        "closed-loop orders/s, SMTP 200 ms, side effects done", "closed200", ("orders_done_per_s",)
    ),
    Figure("checkout p50 at rest (ms)", "rest", ("checkout_p50_ms",)),
    Figure("GET /api/orders/{id}/ p50 at rest (ms)", "rest", ("get_order_p50_ms",)),
    Figure("checkout p50 / p99, closed loop (ms)", "closed", P50_P99),
    Figure("checkout p50 / p99 at 10/s (ms)", "open10", P50_P99, "<= 15 / 40", (15, 40)),
    Figure("checkout p50 / p99 at 30/s (ms)", "open30", P50_P99),
    Figure(
        "side-effect lag p50 / p99 at 30/s, slowest kind (ms)",
        "open30",
        EFFECTS_P50_P99,
        "<= 100 / 500",
        (100, 500),
    ),
    Figure("queue growth at 30/s (messages/s)", "open30", ("backlog_growth_per_s",), "~0"),
    Figure("checkout p50 / p99 at 50/s (ms)", "open50", P50_P99),
    Figure("side-effect lag p50 / p99 at 50/s, slowest kind (ms)", "open50", EFFECTS_P50_P99),
    Figure("SMTP 200 ms, 20/s: emails drained/s", "smtp200", ("emails_per_s",), "20"),
    Figure(
        "SMTP 200 ms, 20/s: side effects p50 / p99 (ms)",
        "smtp200",
        EFFECTS_P50_P99,
        "p99 <= 2000",
        (None, 2000),
    ),
    Figure("SMTP 200 ms, 20/s: checkout p50 / p99 (ms)", "smtp200", P50_P99),
    Figure("burst, then 30/s: largest side-effect lag (ms)", "burst30", ("burst_max_lag_ms",)),
    Figure(
        "burst, then 30/s: recovery to side effects p99 <= 1 s (s)",
        "burst30",
        ("burst_recovery_s",),
        "<= 10",
        (10,),
    ),
    Figure("burst, then 30/s: checkout / side effects p99 after it (ms)", "burst30", AFTER),
    Figure(
        "burst, SMTP 200 ms, then 20/s: largest side-effect lag (ms)",
        "burst200",
        ("burst_max_lag_ms",),
    ),
    Figure(
        "burst, SMTP 200 ms, then 20/s: recovery (s)",
        "burst200",
        ("burst_recovery_s",),
        "<= 15",
        (15,),
    ),
    Figure("burst, SMTP 200 ms, then 20/s: p99s after it (ms)", "burst200", AFTER),
    Figure("sustainable rate (orders/s)", "search", ("sustainable_rate",), ">= 1.5x plain"),
    Figure(
        "sustainable rate, SMTP 200 ms (orders/s)",
        "search200",
        ("sustainable_rate",),
        ">= 3x plain",
    ),
]
