"""What one phase of bench/load.py measured, and its summary: the client's flows (timed by
the client), the side-effect lag by kind (from the stack's /metrics, bench/lag.py), the
CPU per process kind, the queues. Percentiles are HdrHistogram's (bench/percentiles.py)."""

import statistics
from dataclasses import dataclass, field

import bursts
import lag
import percentiles
from cpu import BACKGROUND, STACK
from phases import Phase


@dataclass
class PhaseResult:
    phase: Phase
    flows: list[dict] = field(default_factory=list)  # bench/shoppers.py's, one per order
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process kind
    queued_at_end: int = 0
    pending_at_end: int = 0  # side effects not done yet when the load stopped
    drain_seconds: float = 0.0  # until the side effects are done and the queues empty
    effects_drain_seconds: float = 0.0  # until the side effects are done
    backlog: list[tuple[float, int]] = field(default_factory=list)
    lag: dict = field(default_factory=dict)  # kind: HdrHistogram of the lags done (ms)
    undone: int = 0  # side effects still not done after the drain
    emails: int = 0
    email_rate: float = 0.0
    smtp_connections: int = 0
    get_order_ms: list[float] = field(default_factory=list)
    rounds: list[float] = field(default_factory=list)  # orders/s of each round, if several
    multiple_rounds: bool = False  # a backlog series of several rounds has no one slope
    scrapes: list = field(default_factory=list)  # a burst's /metrics, every 2 s
    started: float = 0.0  # time.time() the phase started
    probes: list[bursts.Probe] = field(default_factory=list)  # a search's
    # Side effects done before the checkout answers, with no lag kept (the plain design).
    effects_in_request: bool = False

    @property
    def orders(self) -> list[dict]:
        return [f for f in self.flows if f["order_id"]]

    def summary(self) -> dict:
        orders = len(self.orders)
        return {
            "phase": self.phase.name,
            "label": self.phase.label,
            "orders": orders,
            "errors": len(self.flows) - orders,
            "error_kinds": sorted({f["error"] for f in self.flows if f["error"]}),
            "seconds": round(self.seconds, 2),
            "orders_per_s": round(orders / self.seconds, 2) if self.seconds else None,
            # Orders whose side effects were all done, per second of the phase and of the
            # wait for them after it: the rate the whole system sustains.
            "orders_done_per_s": (
                round(orders / (self.seconds + self.effects_drain_seconds), 2)
                if self.seconds
                else None
            ),
            **self.latencies(),
            "queued_at_end": self.queued_at_end,
            "pending_at_end": self.pending_at_end,
            "drain_s": round(self.drain_seconds, 2),
            "effects_drain_s": round(self.effects_drain_seconds, 2),
            "emails": self.emails,
            "emails_per_s": round(self.email_rate, 2),
            "smtp_connections": self.smtp_connections,
            "cpu_ms_per_order": {
                kind: round(seconds / orders * 1000, 2)
                for kind, seconds in sorted(self.cpu.items())
            }
            if orders
            else {},
            **self.cpu_parts(orders),
            "side_effects_in_request": self.effects_in_request,
            "backlog_growth_per_s": None if self.multiple_rounds else backlog_slope(self.backlog),
            "rounds_orders_per_s": self.rounds,
            **self.burst_summary(),
            **self.search_summary(),
        }

    def cpu_parts(self, orders: int) -> dict:
        """CPU ms per order of every process of the shop (side effects included), of its
        web and of its background."""
        parts = {"stack": STACK, "web": ("web",), "background": BACKGROUND}
        return {
            f"{part}_cpu_ms_per_order": (
                round(sum(self.cpu.get(kind, 0.0) for kind in kinds) / orders * 1000, 2)
                if orders and self.cpu
                else None
            )
            for part, kinds in parts.items()
        }

    def latencies(self) -> dict:
        """The checkout (timed by the client) and the side effects (the slowest kind's,
        from /metrics): p50, p95, p99 in ms."""
        checkout = percentiles.histogram(f["checkout_ms"] for f in self.orders)
        flow = [f["cart_ms"] + f["item_ms"] + f["checkout_ms"] for f in self.orders]
        by_kind = {
            kind: {f"p{p}_ms": percentiles.at(h, p) for p in (50, 95, 99)}
            | {"done": int(h.get_total_count())}
            for kind, h in sorted(self.lag.items())
        }
        return {
            **{f"checkout_p{p}_ms": percentiles.at(checkout, p) for p in (50, 95, 99)},
            "flow_p50_ms": percentiles.pct(flow, 50),
            "get_order_p50_ms": percentiles.pct(self.get_order_ms, 50),
            **{f"side_effects_p{p}_ms": lag.slowest(self.lag, p) for p in (50, 95, 99)},
            "side_effects_by_kind": by_kind,
            "side_effects_not_done": self.undone,
        }

    def burst_summary(self) -> dict:
        if self.phase.kind != "burst" or len(self.scrapes) < 2:
            return {}
        checkouts = [(f["created_at"] - self.started, f["checkout_ms"]) for f in self.orders]
        return bursts.burst_figures(
            self.scrapes,
            checkouts,
            started=self.started,
            burst_end=self.phase.seconds,
            phase_end=self.phase.total_seconds,
        )

    def search_summary(self) -> dict:
        if self.phase.kind != "search":
            return {}
        return {
            "sustainable_rate": bursts.sustainable(self.probes),
            "probes": [{**p.__dict__, "why_not": p.why_not} for p in self.probes],
        }

    def lag_cdf(self) -> list[tuple[float, float]]:
        """(ms, fraction of side effects done within it), every kind together: the plot's."""
        every = percentiles.merged(self.lag.values())
        steps = [*range(1, 100), 99.5, 99.9, 100]
        return [(percentiles.at(every, p), p / 100) for p in steps if every.get_total_count()]


def backlog_slope(samples: list[tuple[float, int]]) -> float | None:
    """Least-squares slope of the queued-messages series over the phase's second half."""
    half = samples[len(samples) // 2 :]
    if len(half) < 3:
        return None
    xs, ys = [t for t, _ in half], [n for _, n in half]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return (
        round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var, 2)
        if var
        else 0.0
    )


def merged(rounds: list[PhaseResult]) -> PhaseResult:
    """One phase's rounds as one result: their orders over their summed time, the CPU and
    the lag of all of them; each round's orders/s kept for the spread."""
    if len(rounds) == 1:
        return rounds[0]
    result = PhaseResult(
        rounds[0].phase,
        multiple_rounds=True,
        started=rounds[0].started,
        effects_in_request=rounds[0].effects_in_request,
    )
    offset = 0.0
    for part in rounds:
        result.flows += part.flows
        result.seconds += part.seconds
        result.effects_drain_seconds += part.effects_drain_seconds
        result.drain_seconds += part.drain_seconds
        for kind, seconds in part.cpu.items():
            result.cpu[kind] = result.cpu.get(kind, 0.0) + seconds
        for kind, recorded in part.lag.items():
            result.lag.setdefault(kind, percentiles.histogram()).add(recorded)
        result.backlog += [(offset + t, n) for t, n in part.backlog]
        offset += part.seconds
        result.undone += part.undone
        result.emails += part.emails
        result.email_rate += part.email_rate * part.seconds
        result.smtp_connections = max(result.smtp_connections, part.smtp_connections)
        result.get_order_ms += part.get_order_ms
    result.email_rate /= result.seconds or 1
    result.queued_at_end = sum(part.queued_at_end for part in rounds)
    result.pending_at_end = sum(part.pending_at_end for part in rounds)
    result.rounds = [part.summary()["orders_per_s"] for part in rounds]
    return result
