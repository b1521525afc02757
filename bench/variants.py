"""The variants bench/load.py compares, each a stack of its own measured phase by phase,
and the order in which their turns come: Shopflow's (runstack, as `make run`) and the
plain design's (bench/plain_web.py), the baseline (bench/baseline.py)."""

import dataclasses
import json
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import baseline
import bursts
from common import ROOT, say
from cpu import CpuMeter
from lag import InRequest, MetricsReader
from phases import Phase
from plain_web import PlainStack
from results import PhaseResult, merged
from runner import Runner, ShopperProcess
from stack import OPS_CREDENTIALS, Broker, Database, ManagedStack, Sink, fresh_database

from devstack.stack import redis_answers


class Variant:
    """One variant's stack (or the one at --base-url), its database, broker and shoppers:
    started once, then measured phase by phase, its rounds taking turns with the other
    variant's. A stack waiting for its turn costs under 2% of one core (measured: web,
    workers, beat and Flower idle)."""

    # A variant that runs some phases only: the rest are the main two's.
    ONLY = {"async-noevents": {"closed"}}

    def __init__(self, name: str, args, broker_url: str | None):
        self.name = name
        self.args = args
        self.broker_url = broker_url
        self.broker = self.sink = self.stack = self.client = self.runner = None
        self.rounds: dict[str, list[PhaseResult]] = {}
        self.only = self.ONLY.get(name)

    def runs(self, phase: Phase) -> bool:
        return self.only is None or phase.name in self.only

    def search(self, phase: Phase, settle) -> None:
        """Probe steady rates (bursts.next_rate) until the highest that keeps the objective
        is found; every probe after empty queues (`settle`)."""
        say(f"  [{self.name}] phase {phase.name}: {phase.label}")
        result = PhaseResult(phase, effects_in_request=self.name in baseline.NO_LAG)
        while rate := bursts.next_rate(result.probes, start=phase.rate, step=phase.step):
            settle()
            probe = dataclasses.replace(phase, kind="open", rate=rate)
            part = self.runner.run(probe, profile=False)
            summary = part.summary()
            result.probes.append(
                bursts.Probe(
                    rate=rate,
                    checkout_p99_ms=summary["checkout_p99_ms"],
                    effects_p99_ms=summary["side_effects_p99_ms"],
                    queue_growth_per_s=summary["backlog_growth_per_s"],
                    errors=summary["errors"],
                    undone=summary["side_effects_not_done"],
                    checkout_only=self.name in baseline.IN_REQUEST,
                )
            )
            verdict = result.probes[-1].why_not or "kept"
            say(f"  -> {rate:g}/s: {verdict}")
            result.flows += part.flows
            result.seconds += part.seconds
        self.rounds[phase.name] = [result]

    def start(self) -> None:
        args = self.args
        say(f"\n== {self.name}: {baseline.HOW.get(self.name, 'the stack at --base-url')}")
        if args.base_url:
            base, database_url = args.base_url.rstrip("/"), args.database_url
            self.broker = Broker(self.broker_url) if redis_answers(self.broker_url) else None
            metrics, roots = MetricsReader(base, args.metrics_auth), []
        else:
            database_url = fresh_database(args.database_url, self.name)
            self.sink = Sink()
            base, metrics = self.start_stack(database_url)
            roots = [self.stack.process.pid, self.sink.process.pid]
        database = Database(database_url)
        products = database.prepare()
        database.close()
        self.client = ShopperProcess(base)
        meter = CpuMeter([*roots, self.client.process.pid], self.broker and self.broker.port)
        self.runner = Runner(
            variant=self.name,
            client=self.client,
            metrics=metrics,
            broker=self.broker,
            sink=self.sink,
            meter=meter,
            products=products,
            tokens=self.register(args.clients),
            profile=(args.profile, args.profile_phase),
            effects_in_request=self.name in baseline.NO_LAG,
        )

    def start_stack(self, database_url: str):
        """This variant's stack, up: the plain design's web (no broker, no /metrics: its
        side effects are done in the request), or Shopflow's runstack. (base, metrics)."""
        extra = dict(kv.split("=", 1) for kv in self.args.env)
        if self.name == baseline.BASELINE:
            # As Shopflow's stack is told (ManagedStack): eight shoppers placing the same
            # order all run would each be flagged a duplicate; the check still runs.
            extra.setdefault("SHOPFLOW_DUPLICATE_WINDOW_MINUTES", "0")
            self.stack = PlainStack(database_url=database_url, email_port=self.sink.port, **extra)
            say(f"  starting the plain design (log: {self.stack.log_path})")
            self.stack.wait_ready()
            return self.stack.base, InRequest()
        self.broker = Broker(self.broker_url)
        self.stack = ManagedStack(
            variant=self.name,
            database_url=database_url,
            broker=self.broker,
            sink=self.sink,
            extra_env=extra,
        )
        say(f"  starting the stack (log: {self.stack.log_path})")
        self.stack.wait_ready()
        return self.stack.base, MetricsReader(self.stack.base, OPS_CREDENTIALS)

    def register(self, count: int) -> list[str]:
        say(f"  registering {count} shoppers")
        names = [f"bench-{self.name}-{n}-{int(time.time())}" for n in range(count)]
        answer = self.client.run({"do": "register", "usernames": names})
        if answer["errors"]:
            raise SystemExit(f"bench: registering shoppers failed: {answer['errors'][0]}")
        time.sleep(2)  # let the welcome emails go
        return answer["tokens"]

    def run(self, phase: Phase, round_: int = 1, of: int = 1) -> None:
        part = f", round {round_}/{of}" if of > 1 else ""
        say(f"  [{self.name}] phase {phase.name}{part}: {phase.label}")
        result = self.runner.run(phase, profile=round_ == 1)
        self.rounds.setdefault(phase.name, []).append(result)
        summary = result.summary()
        say(
            f"  -> {summary['orders']} orders, {summary['orders_per_s']}/s, checkout p50 "
            f"{summary['checkout_p50_ms']} ms, "
            f"side effects p50 {summary['side_effects_p50_ms']} ms"
        )

    def settle(self, timeout: float = 180) -> None:
        """Wait for this stack's queues to empty (its last phase drained for a minute at
        most); say so when they do not."""
        if not self.broker:
            return
        deadline = time.monotonic() + timeout
        while self.broker.queued() and time.monotonic() < deadline:
            time.sleep(0.5)
        if left := self.broker.queued():
            say(f"  [{self.name}] still {left} messages queued: the next turn shares the CPU")

    def results(self) -> dict[str, PhaseResult]:
        return {name: merged(rounds) for name, rounds in self.rounds.items()}

    def stop(self) -> None:
        if self.client:
            self.client.stop()
        if self.stack:
            self.stack.stop()
        if self.sink:
            self.sink.stop()
        if self.broker:
            self.broker.stop()


def broker_urls(url: str, names: list[str]) -> list[str | None]:
    """A Redis database per variant that has a broker, on the same server: the stacks run
    at once, and an idle one's workers must not take another's tasks. Counting down from
    --broker-url's database (14, 13), away from the tests' 15; None for the plain design."""
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    urls, n = [], 0
    for name in names:
        if name in baseline.NEEDS_BROKER or name == "given":
            number = db - n if db - n >= 0 else db + n
            urls.append(urlunsplit(parts._replace(path=f"/{number}")))
            n += 1
        else:
            urls.append(None)
    return urls


def run_variants(variants: list[Variant], phases: list[Phase], rounds: int) -> None:
    """Every phase for each variant in turn, minutes apart at most; a closed loop in
    `rounds` rounds, ABBA, so a slow spell of the machine falls on both variants. A turn
    starts when every stack's queues are empty: work left from another's turn would
    take this one's CPU."""

    def settle():
        for variant in variants:
            variant.settle()

    for phase in phases:
        taking_part = [v for v in variants if v.runs(phase)]
        if phase.kind == "search":
            for variant in taking_part:
                variant.search(phase, settle)
            continue
        turns = rounds if phase.kind == "closed" and len(taking_part) > 1 else 1
        for round_ in range(1, turns + 1):
            order = taking_part if round_ % 2 else taking_part[::-1]
            for variant in order:
                settle()
                variant.run(phase, round_, turns)


def in_process(script: str, title: str) -> dict:
    """A bench script in a subprocess (its own Django, its own test database): the JSON
    line it prints last, or {} when it failed."""
    say(f"\n== {title}")
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        say(f"  failed: {out.stderr[-2000:]}")
        return {}
    return json.loads(out.stdout.strip().splitlines()[-1])
