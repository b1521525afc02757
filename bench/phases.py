"""One phase of load on one stack, measured: the orders the load client placed, the
side effects' lag, what was left undone, and the CPU of every process by kind, from the
start of the load until its side effects were done (or the drain gave up)."""

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import figures
from cpu import KINDS, CpuMeter
from stacks import ROOT, Naive, say

SCRAPE_SECONDS = 2.0


@dataclass
class Result:
    design: str
    phase: str
    orders: int = 0
    errors: list = field(default_factory=list)
    seconds: float = 0.0  # of load
    checkout_ms: list = field(default_factory=list)
    lag: dict = field(default_factory=dict)  # kind: lags in ms
    unfinished: int = 0  # side effects still pending when the drain gave up
    drain_s: float | None = None  # after the load, until every side effect was done
    cpu: dict = field(default_factory=dict)  # kind: CPU seconds
    series: list = field(default_factory=list)  # (s into the phase, p99 ms)
    burst_end: float = 0.0
    load: float = 0.0  # the machine's 1-minute load average at the end

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    def effects(self, p: float) -> float | None:
        return figures.slowest(self.lag, p)

    def checkout(self, p: float) -> float | None:
        return figures.percentile(self.checkout_ms, p)

    def cpu_ms(self, kind: str | None = None) -> float | None:
        """CPU ms an order of one kind, or of the whole stack."""
        seconds = self.cpu.get(kind, 0.0) if kind else sum(self.cpu.get(k, 0.0) for k in KINDS)
        return seconds * 1000 / self.orders if self.orders else None

    @property
    def recovery_s(self) -> float | None:
        return figures.recovery_seconds(self.series, burst_end=self.burst_end)


def shop(base: str, tokens: list, products: list, steps: list[dict]) -> dict:
    """The load client (bench/shoppers.py) to its end, in a session of its own (a group
    of its own to the scheduler: the rate it offers does not wait on the bench's)."""
    command = {"base": base, "tokens": tokens, "products": products, "steps": steps}
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "shoppers.py")],
        input=json.dumps(command),
        stdout=subprocess.PIPE,
        text=True,
        check=False,
        start_new_session=True,
    )
    if out.returncode:
        raise SystemExit("bench: the load client failed (above; the stacks: var/bench/*.log)")
    return json.loads(out.stdout)


# Every stack of the run (bench/run.py's start): a phase starts with all of them idle. The
# naive design's backlog (it never catches up with a slow SMTP server) went on taking the
# cores from Shopflow's next phase, the burst, while only the stack measured was settled.
STACKS: list = []


def settle(stack, since, timeout: float = 90) -> None:
    """Until the stack has nothing left to do from earlier phases; the naive design's
    backlog is dropped past `timeout` (it may never catch up)."""
    deadline = time.monotonic() + timeout
    while busy(stack, since) and time.monotonic() < deadline:
        time.sleep(1)
    if not (left := busy(stack, since)):
        return
    if isinstance(stack, Naive):
        stack.purge()
        time.sleep(3)  # the tasks the worker had already taken
    else:
        say(f"  {stack.name}: {left} side effects still pending; the next phase starts behind")


def busy(stack, since) -> int:
    """Side effects not done yet (and, naive, messages queued): 0 when the stack is idle."""
    queued = stack.queued() if isinstance(stack, Naive) else 0
    return stack.pending(since) + queued


class Scraper(threading.Thread):
    """/metrics every SCRAPE_SECONDS during a phase: the lag over time."""

    def __init__(self, stack):
        super().__init__(daemon=True)
        self.stack, self.scrapes, self.stopped = stack, [], threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            at, buckets, _ = self.stack.mark()
            self.scrapes.append((at, buckets))
            self.stopped.wait(SCRAPE_SECONDS)


def measure(stack, meter: CpuMeter, phase: str, steps: list[dict], *, drain: float, base=None):
    """One phase of `steps` on `stack` (at `base`, another web of it, when given)."""
    result = Result(design=stack.name if base is None else "synchronous", phase=phase)
    for each in STACKS or [stack]:
        settle(each, each.mark())
    since, started = stack.mark(), time.time()
    window = meter.window() if base is None else None  # the synchronous web is not metered
    scraper = Scraper(stack) if phase == "burst" else None
    if scraper:
        scraper.start()
    answer = shop(base or stack.base, stack.tokens, stack.products, steps)
    result.seconds = time.time() - started
    flows = answer["flows"]
    result.errors = [error for _, _, error in flows if error]
    result.checkout_ms = [ms for _, ms, error in flows if not error]
    result.orders = len(result.checkout_ms)
    if base is None:
        ended, deadline = time.time(), time.monotonic() + drain
        while (left := busy(stack, since)) and time.monotonic() < deadline:
            time.sleep(0.5)
        result.unfinished = stack.pending(since)
        result.drain_s = None if left else round(time.time() - ended, 1)
        result.lag = stack.lag(since, None)
        result.cpu = window.stop()
    result.load = os.getloadavg()[0]
    if scraper:
        scraper.stopped.set()
        scraper.join()
        result.series = [(at - started, p99) for at, p99 in figures.series(scraper.scrapes)]
        result.burst_end = steps[0]["seconds"]
    say(f"  {result.design} {phase}: {summary(result)}")
    return result


def summary(r: Result) -> str:
    def ms(value):
        return "-" if value is None else f"{value:.0f}"

    text = f"{r.orders} orders, {r.orders_per_s:.1f}/s, {len(r.errors)} errors"
    if r.errors:
        text += " (" + ", ".join(f"{n} {e}" for e, n in Counter(r.errors).most_common(3)) + ")"
    if r.lag:
        text += f"; side effects p50 / p99 {ms(r.effects(50))} / {ms(r.effects(99))} ms"
        text += f", {r.unfinished} unfinished" if r.unfinished else ""
        text += f", all done {r.drain_s:g} s after the load" if r.drain_s is not None else ""
    if r.cpu_ms():
        text += f"; CPU {r.cpu_ms():.1f} ms an order"
    return f"{text}; load average {r.load:.1f}"
