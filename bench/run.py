"""`make bench`: Shopflow's own figures as a user reads them, against the design users
would build instead (bench/naive), in one run; the figures go to a dated text file in
bench/results/ (docs/performance.md says what each one means).

    make bench                                             # about 15 minutes
    make bench BENCH_ARGS="--quick"                        # a sanity run, about 4
    make bench BENCH_ARGS="--phases steady --env SHOPFLOW_SIDE_EFFECT_BATCH_SIZE=1"

The phases, in this order:

  steady       30 orders/s for 60 s, both designs: CPU an order by process kind, side
               effects' p50 / p99
  slow-smtp    20 orders/s for 60 s with the SMTP server taking 200 ms a message, both
  burst        8 shoppers in a closed loop for 20 s, then 30/s for 40 s (Shopflow): how
               soon side effects are back under 1 s p99
  search       the highest steady rate at which side effects hold (p99 <= 500 ms, all done
               within 10 s of the load's end), 20 s probes, both designs
  closed-smtp  8 shoppers in a closed loop with the SMTP taking 200 ms: Shopflow's orders/s
               against the synchronous design's (the naive one with its tasks run in the
               request, CELERY_TASK_ALWAYS_EAGER=1)
"""

import argparse
import os
import subprocess
import time
from datetime import datetime

import figures
import phases
import report
from cpu import CpuMeter
from phases import measure, shop
from stacks import ROOT, WORK, Naive, Shopflow, Sink, say


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="every phase about a quarter as long")
    add("--phases", default=",".join(RUNS), help=f"a comma-separated subset of {', '.join(RUNS)}")
    add("--env", action="append", default=[], metavar="KEY=VALUE", help="for Shopflow's stack")
    add("--clients", type=int, default=8, help="shoppers in a closed loop")
    default_server = "postgres://postgres@127.0.0.1:5432/postgres"
    add("--database-url", default=os.environ.get("BENCH_DATABASE_URL", default_server))
    add("--prefix", default="bench", help="of the databases the run creates (and drops)")
    add("--commit", help="the code measured, for the results (default: git's HEAD)")
    args = parser.parse_args()
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if unknown := set(args.phases) - set(RUNS):
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    scale = 0.25 if args.quick else 1.0
    args.seconds = lambda s: max(round(s * scale), 8)
    args.drain = 15 if args.quick else 60
    return args


def steady(args, designs, sink, meters, rate=30, smtp_ms=0, phase="steady") -> dict:
    sink.delay(smtp_ms)
    steps = [{"do": "open", "rate": rate, "seconds": args.seconds(60)}]
    return {s.name: measure(s, meters[s.name], phase, steps, drain=args.drain) for s in designs}


def slow_smtp(args, designs, sink, meters) -> dict:
    return steady(args, designs, sink, meters, rate=20, smtp_ms=200, phase="slow-smtp")


def burst(args, designs, sink, meters) -> dict:
    sink.delay(0)
    steps = [
        {"do": "closed", "clients": args.clients, "seconds": args.seconds(20)},
        {"do": "open", "rate": 30, "seconds": args.seconds(40)},
    ]
    return {"shopflow": measure(designs[0], meters["shopflow"], "burst", steps, drain=args.drain)}


def search(args, designs, sink, meters) -> dict:
    """Up from 30/s by 10 while side effects hold, then once halfway back (bench/figures)."""
    sink.delay(0)
    found = {}
    for stack in designs:
        probes = []
        while len(probes) < (2 if args.quick else 6):
            rate = figures.next_rate([(r, ok) for r, ok, _ in probes], start=30, step=10)
            if rate is None:
                break
            steps = [{"do": "open", "rate": rate, "seconds": args.seconds(20)}]
            result = measure(stack, meters[stack.name], f"search {rate:g}/s", steps, drain=10)
            effects = result.effects(99)
            held = not result.errors and not result.unfinished and effects is not None
            probes.append((rate, held and effects <= figures.EFFECTS_P99_MS, result))
        found[stack.name] = probes
    return found


def closed_smtp(args, designs, sink, meters) -> dict:
    """Rounds taking turns (Shopflow, synchronous, synchronous, Shopflow), so that a slow
    spell of this shared machine falls on both."""
    sink.delay(200)
    shopflow, naive = designs
    base, web = naive.synchronous()
    steps = [{"do": "closed", "clients": args.clients, "seconds": args.seconds(15)}]
    rounds = {"shopflow": [], "synchronous": []}
    try:
        turns = ["shopflow", "synchronous", "synchronous", "shopflow"]
        for who in turns[: 2 if args.quick else 4]:
            stack, at = (shopflow, None) if who == "shopflow" else (naive, base)
            result = measure(stack, meters[stack.name], "closed-smtp", steps, drain=0, base=at)
            rounds[who].append(result)
    finally:
        web.terminate()
        web.wait()
        naive.processes.remove(web)
    sink.delay(0)
    return rounds


def commit() -> str:
    def git(*argv):
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True).stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = [
        line for line in git("status", "--porcelain").splitlines() if "bench/results" not in line
    ]
    return f"{head}{' with uncommitted changes' if dirty else ''}"


def start(args, sink: Sink, designs: list) -> None:
    """Both stacks up, warm, with their shoppers (Shopflow's signed up through its API);
    each in `designs` as soon as it starts, for the caller to stop whatever happens."""
    say("starting Shopflow (make run's stack) and the naive design")
    env = dict(kv.split("=", 1) for kv in args.env)
    designs.append(Shopflow(args.database_url, args.prefix, sink, env))
    designs.append(Naive(args.database_url, args.prefix, sink))
    phases.STACKS[:] = designs
    for stack in designs:  # runstack sets itself up while the naive design is launched
        stack.launch()
    for stack in designs:
        stack.start()
    names = [f"shopper-{n}-{int(time.time())}" for n in range(args.clients)]
    answer = shop(designs[0].base, [], [], [{"do": "register", "usernames": names}])
    designs[0].tokens = answer["tokens"]
    for stack in designs:  # warm: connections, caches, the workers' first imports
        warm = [{"do": "open", "rate": 10, "seconds": 5}]
        shop(stack.base, stack.tokens, stack.products, warm)


RUNS = {
    "steady": steady,
    "slow-smtp": slow_smtp,
    "burst": burst,
    "search": search,
    "closed-smtp": closed_smtp,
}


def main() -> None:
    args = arguments()
    WORK.mkdir(parents=True, exist_ok=True)
    started, measured, load = time.time(), args.commit or commit(), os.getloadavg()[0]
    sink, designs, results = Sink(), [], {}
    try:
        start(args, sink, designs)
        meters = {s.name: CpuMeter(s.roots(), s.database) for s in designs}
        for phase in args.phases:
            say(f"\n== {phase}")
            results[phase] = RUNS[phase](args, designs, sink, meters)
    finally:
        for stack in designs:
            stack.stop()
        sink.stop()
    when = datetime.fromtimestamp(started)
    options = " ".join(f"--env {kv}" for kv in args.env) + (" --quick" if args.quick else "")
    about = {"when": when, "minutes": (time.time() - started) / 60, "commit": measured}
    about |= {"load": (load, os.getloadavg()[0]), "options": options.strip()}
    path = ROOT / "bench" / "results" / f"{when:%Y-%m-%d-%H%M}{'-quick' if args.quick else ''}.md"
    path.write_text(text := report.text(results, about))
    print(f"\n{text}\nwritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
