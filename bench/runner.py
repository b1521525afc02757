"""One phase of bench/load.py against one stack: the load (bench/shoppers.py, in its own
process), then the wait until its side effects are done and the queues empty, so that
the CPU they cost is counted with this phase and not the next. Nothing reads the
stack's tables: the lag and what is still pending come from its /metrics (the plain
design has neither: its side effects are done when the checkout answers, lag.InRequest)."""

import contextlib
import json
import subprocess
import sys
import threading
import time

import bursts
import lag
from common import ROOT, say
from phases import Phase
from profiling import profile_stack
from results import PhaseResult


class ShopperProcess:
    """bench/shoppers.py in a process of its own, answering one command at a time."""

    def __init__(self, base: str):
        self.base = base
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "shoppers.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert "ready" in self.process.stdout.readline(), "the load client did not start"

    def run(self, command: dict, on_progress=None) -> dict:
        self.process.stdin.write(json.dumps({"base": self.base, **command}) + "\n")
        self.process.stdin.flush()
        while line := self.process.stdout.readline():
            answer = json.loads(line)
            if "progress" not in answer:
                return answer
            if on_progress:
                on_progress(answer["progress"])
        raise SystemExit("bench: the load client (bench/shoppers.py) exited")

    def stop(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Sampler(threading.Thread):
    """Every second while a phase runs and drains: the queued messages; in a burst, the
    stack's /metrics every BUCKET_SECONDS too, for the lag over time."""

    def __init__(self, runner: "Runner", result: PhaseResult):
        super().__init__(daemon=True)
        self.runner, self.result = runner, result
        self.queued = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        ticks = 0
        while not self.stopped.wait(1.0):
            ticks += 1
            broker = self.runner.broker
            self.queued = broker.queued() if broker else 0
            self.result.backlog.append((time.time() - self.result.started, self.queued))
            if self.result.phase.kind == "burst" and ticks % int(bursts.BUCKET_SECONDS) == 0:
                # A scrape that fails leaves a longer interval, not a hole in the counts.
                with contextlib.suppress(OSError):
                    self.result.scrapes.append(self.runner.metrics.scrape())

    def stop(self) -> None:
        self.stopped.set()
        self.join()


class Runner:
    def __init__(
        self,
        *,
        variant,
        client,
        metrics,
        broker,
        sink,
        meter,
        tokens,
        products,
        profile=(0.0, ""),
        effects_in_request=False,
    ):
        self.profile_seconds, self.profile_phase = profile
        # The plain design: its side effects done before the checkout answers, no lag kept.
        self.effects_in_request = effects_in_request
        self.variant = variant
        self.client = client
        self.metrics = metrics
        self.broker = broker
        self.sink = sink
        self.meter = meter
        self.tokens = tokens
        self.products = products

    def run(self, phase: Phase, profile: bool = True) -> PhaseResult:
        result = PhaseResult(phase, effects_in_request=self.effects_in_request)
        if self.sink:
            self.sink.delay(phase.smtp_delay_ms)
        emails_before = len(self.sink.received()) if self.sink else 0
        before = self.metrics.scrape()
        cpu_before = self.meter.snapshot()
        result.started, result.scrapes = time.time(), [before]
        sampler = Sampler(self, result)
        sampler.start()
        if profile:  # a closed loop's first round only: one profile per phase
            self.start_profile(phase)
        self.load(phase, result, sampler)
        ended = time.time()
        result.seconds = ended - result.started
        result.queued_at_end = self.broker.queued() if self.broker else 0
        last = self.drain(phase, result, ended)
        sampler.stop()
        cpu_after = self.meter.snapshot()
        result.cpu = {k: cpu_after.get(k, 0.0) - cpu_before.get(k, 0.0) for k in cpu_after}
        result.scrapes.append(last)
        result.lag = lag.lag_by_kind(before, last)
        result.undone = int(last.pending)
        self.count_emails(result, emails_before, ended)
        return result

    def load(self, phase: Phase, result: PhaseResult, sampler: Sampler) -> None:
        common = {"tokens": self.tokens, "products": self.products, "phase": phase.name}
        if phase.kind == "rest":
            commands = [{"do": "rest", "count": phase.flows}]
        elif phase.kind in ("closed", "burst"):
            commands = [{"do": "closed", "seconds": phase.seconds, "clients": phase.clients}]
        else:
            commands = [{"do": "open", "seconds": phase.seconds, "rate": phase.rate}]
        if phase.kind == "burst":  # then at once a steady rate
            commands.append({"do": "open", "seconds": phase.then_seconds, "rate": phase.then_rate})

        def progress(seen: dict) -> None:
            elapsed = time.time() - result.started
            total = f"/{phase.total_seconds:.0f}s" if phase.seconds else ""
            say(
                f"  [{self.variant}] {phase.name:<8} {elapsed:5.0f}s{total}  orders "
                f"{len(result.flows) + seen['orders']:5d}  checkout p50 "
                f"{seen['checkout_p50_ms']:7.1f} ms  queued {sampler.queued}"
            )

        for command in commands:
            answer = self.client.run({**common, **command}, progress)
            result.flows += answer["flows"]
            result.get_order_ms += answer["get_order_ms"]

    def drain(self, phase: Phase, result: PhaseResult, ended: float) -> lag.Scrape:
        """Until no side effect is pending and the queues are empty (deliveries whose work
        a batch did are still consumed), a minute at least; the last /metrics read."""
        deadline = time.monotonic() + max(60.0, phase.total_seconds)
        scrape = self.metrics.scrape()
        result.pending_at_end = int(scrape.pending)
        while True:
            done = scrape.pending == 0
            if done and not result.effects_drain_seconds:
                result.effects_drain_seconds = time.time() - ended
            queued = self.broker.queued() if self.broker else 0
            if (done and not queued) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
            scrape = self.metrics.scrape()
        result.drain_seconds = time.time() - ended
        return scrape

    def count_emails(self, result: PhaseResult, before: int, ended: float) -> None:
        if not self.sink:
            return
        received = self.sink.received()[before:]
        in_phase = [t for t, _ in received if result.started <= t <= ended]
        result.emails = len(received)
        result.smtp_connections = len({c for _, c in received})
        result.email_rate = len(in_phase) / result.seconds if result.seconds else 0.0

    def start_profile(self, phase: Phase) -> None:
        """py-spy the web and worker processes during `phase` when --profile asks for it."""
        if not self.profile_seconds or phase.name != self.profile_phase or not phase.seconds:
            return
        seconds = min(self.profile_seconds, phase.seconds - 4)
        label = f"{self.variant}-{phase.name}"

        def profiled():
            for summary in profile_stack(self.meter, label, seconds):
                say(f"  profile: {summary}")

        threading.Timer(2, profiled).start()
