"""The side-effect lag as the stack itself counts it: /metrics, scraped with the ops
credentials. shopflow_side_effect_lag_seconds{kind} is the histogram the workers (in the
synchronous design, the web processes) observe when they mark a side effect done, from
the checkout that opened it; the difference of two scrapes is the lag of the side
effects done between them. shopflow_side_effects_pending says how many are still to do."""

import base64
import time
import urllib.request
from dataclasses import dataclass
from itertools import pairwise

import common  # noqa: F401 - the project on sys.path
import percentiles

from tests.support.metrics import Metrics

LAG = "shopflow_side_effect_lag_seconds"
PENDING = "shopflow_side_effects_pending"


@dataclass
class Scrape:
    at: float  # time.time() of the answer
    buckets: dict[str, dict[float, float]]  # kind: {upper bound (s): cumulative count}
    pending: float

    def done(self) -> float:
        return sum(counts.get(float("inf"), 0.0) for counts in self.buckets.values())


class MetricsReader:
    """GET /metrics of one stack, read for the lag and the side effects still pending."""

    def __init__(self, base: str, credentials: str):
        self.url = f"{base}/metrics"
        self.auth = "Basic " + base64.b64encode(credentials.encode()).decode()

    def scrape(self) -> Scrape:
        request = urllib.request.Request(self.url, headers={"Authorization": self.auth})
        with urllib.request.urlopen(request, timeout=30) as answer:
            samples = Metrics(answer.read().decode()).samples
        buckets: dict[str, dict[float, float]] = {}
        for sample in samples:
            if sample.name == f"{LAG}_bucket":
                kind = sample.labels["kind"]
                buckets.setdefault(kind, {})[float(sample.labels["le"])] = sample.value
        pending = sum(s.value for s in samples if s.name == PENDING)
        return Scrape(at=time.time(), buckets=buckets, pending=pending)


class InRequest:
    """The stand-in for /metrics of a design that does its side effects inside the
    checkout request and keeps no lag nor pending count (the plain design): every scrape
    says none pending and no lag recorded, so its phases drain at once."""

    def scrape(self) -> Scrape:
        return Scrape(at=time.time(), buckets={}, pending=0.0)


def lag_by_kind(before: Scrape, after: Scrape) -> dict:
    """{kind: HdrHistogram of the lags (ms) observed between the two scrapes}."""
    found = {}
    for kind, cumulative in after.buckets.items():
        earlier = before.buckets.get(kind, {})
        counts, below = [], 0.0
        for bound in sorted(cumulative):
            total = cumulative[bound] - earlier.get(bound, 0.0)
            counts.append((bound, round(total - below)))
            below = total
        found[kind] = percentiles.from_buckets(counts)
    return found


def slowest(by_kind: dict, p: float) -> float | None:
    """The p-th percentile of the slowest kind (ms): an order is done when its last side
    effect is, so its own lag is at least this."""
    values = [percentiles.at(recorded, p) for recorded in by_kind.values()]
    return max((v for v in values if v is not None), default=None)


def series(scrapes: list[Scrape], started: float) -> list[tuple[float, float | None, int]]:
    """[(s into the phase, p99 ms of the slowest kind, side effects done)] between each
    two scrapes in turn: the lag over time, by when the side effects were done."""
    points = []
    for before, after in pairwise(scrapes):
        by_kind = lag_by_kind(before, after)
        done = sum(int(h.get_total_count()) for h in by_kind.values())
        points.append((round(before.at - started, 2), slowest(by_kind, 99), done))
    return points
