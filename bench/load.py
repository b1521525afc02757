"""Load benchmark of the running stack over HTTP: Shopflow as built, against the plain
synchronous design it replaces (bench/plain: side effects in the request, no Celery), in
one run.

    make bench                          # async and plain, every phase (about 40 minutes)
    make bench BENCH_ARGS="--workers 2 --phases closed,burst30"   # scaled out
    .venv/bin/python bench/load.py --quick
    .venv/bin/python bench/load.py --variants async,plain,sync     # the eager one too
    .venv/bin/python bench/load.py --base-url http://127.0.0.1:8000   # a stack you started

The variants (--variants, default async,plain; bench/baseline.py):

  async           Shopflow as `make run` starts it (`manage.py runstack`)
  plain           the baseline: bench/plain, started by bench/plain_web.py as `make run`
                  starts Shopflow's web (gunicorn, its uvicorn worker class, 2 processes);
                  its checkout sends the email, moves the stock and writes the analytics
                  row before it answers
  sync            opt-in: Shopflow with CELERY_TASK_ALWAYS_EAGER=1, its outbox, claims
                  and metrics run in the request; against plain, what Shopflow's own
                  bookkeeping costs with no Celery in the way
  async-noevents  opt-in, the closed loop only: Shopflow with
                  CELERY_WORKER_SEND_TASK_EVENTS=0, for the cost of task events

Each runs at once on a fresh database of its own (PostgreSQL when DATABASE_URL points at
one, else SQLite) with an SMTP server of its own (bench/smtp_sink.py) that can be told
to take N ms per message (the plain design's checkout then waits for it); Shopflow's
with a Redis database of its own on the machine's Redis (an embedded one when none
answers). Then, phase by phase, each variant in turn, the load client
(bench/shoppers.py, aiohttp in a process of its own) loads it over HTTP with keep-alive
connections:

  rest     one client, one flow at a time: checkout and GET /api/orders/{id}/ at rest
  closed   N clients in a closed loop, each registered once: cart, item, checkout (twice:
           with an SMTP server that answers at once, and one taking 200 ms a message);
           in rounds that take turns (async, plain, plain, async, ...), so the ratio is
           measured seconds apart and a slow spell of this shared machine hits both
  open     a fixed arrival rate for a fixed time (several phases, one with a slow SMTP)
  burst    a flash sale: the closed loop for 20 s, then at once a steady rate for 40 s;
           the largest side-effect lag, and the time after the burst until side effects
           are back under 1 s p99 ("recovery"), drawn over time (bench/bursts.py)
  search   the highest steady rate at which checkout p99 <= 100 ms, side effects p99
           <= 1 s and no queue grows (for plain and sync, whose checkout answers once
           the side effects are done, the checkout alone): 20 s probes, up by a step
           while it holds, then once halfway back

The side-effect lag is Shopflow's own: its /metrics histogram
shopflow_side_effect_lag_seconds{kind}, from the checkout to the done mark, scraped
before and after each phase (every 2 s in a burst) and diffed (bench/lag.py); nothing
reads the stack's tables. The table gives the slowest kind's percentiles: an order is
done when its last side effect is. The plain design keeps no lag: its side effects are
done when the checkout answers, and the table says "0 (in the request)". Every
percentile is HdrHistogram's (bench/percentiles.py). CPU seconds are read per process
kind with psutil (bench/cpu.py), the same way for every variant: the stack's total
(its processes, and every PostgreSQL process of the server, during its turn), and apart
from it the load client, the SMTP server and runstack. SQL statements per checkout come
from bench/sql_per_checkout.py (Shopflow's, in-process).

It prints a table with the async/plain ratio (and async/sync with --variants
async,plain,sync), writes the raw numbers and the headline ratios to
bench/results/load.json and draws bench/results/load.png.
"""

import argparse
import dataclasses
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from baseline import BASELINE, DEFAULT, chosen_variants, headline
from common import RESULTS, say
from cpu import reference_cpu_ms
from phases import phases_for
from plots import plot
from report import report
from variants import Variant, broker_urls, in_process, run_variants


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where(parser.add_argument)
    what(parser.add_argument)
    args = parser.parse_args()
    try:
        args.names = ["given"] if args.base_url else chosen_variants(args.variants)
    except ValueError as exc:
        parser.error(str(exc))
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    if args.workers is not None:
        if args.workers < 1:
            parser.error("--workers must be 1 or more")
        args.env.append(f"WORKER_REPLICAS={args.workers}")
    if args.base_url and not args.database_url.startswith(("postgres", "sqlite:///")):
        parser.error("--base-url needs --database-url of that stack")
    if args.base_url and ":" not in args.metrics_auth:
        parser.error("--base-url needs --metrics-auth USER:PASS (or FLOWER_BASIC_AUTH)")
    return args


def where(add) -> None:
    """The options of the stacks: where they run, with what."""
    add("--base-url", help="benchmark a stack already running (no baseline)")
    add(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "sqlite:///"),
        help="server for the bench databases (default: DATABASE_URL, else SQLite)",
    )
    add(
        "--broker-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="Redis for the stack (emptied); one is started when it does not answer",
    )
    add(
        "--metrics-auth",
        default=os.environ.get("FLOWER_BASIC_AUTH", ""),
        metavar="USER:PASS",
        help="with --base-url: the ops credentials of its /metrics (default FLOWER_BASIC_AUTH)",
    )
    add("--env", action="append", default=[], help="KEY=VALUE for the stack")
    add(
        "--workers",
        type=int,
        metavar="N",
        help="run the side-effect workers (worker and mail) as N processes each, as "
        "`docker compose up --scale worker=N --scale mail=N` does (WORKER_REPLICAS)",
    )


def what(add) -> None:
    """The options of the measurement: which variants and phases, how long."""
    add(
        "--variants",
        default=DEFAULT,
        help=f"comma-separated: async, plain, sync, async-noevents (default {DEFAULT})",
    )
    add(
        "--phases",
        help="comma-separated subset of: rest,closed,closed200,open10,open30,"
        "open50,smtp200,burst30,burst200,search,search200",
    )
    add("--clients", type=int, default=8)
    add("--closed-seconds", type=float, default=12, help="each round of a closed loop")
    add(
        "--rounds",
        type=int,
        default=4,
        help="closed-loop rounds per variant, taking turns (even: each goes first as often)",
    )
    add("--quick", action="store_true", help="phases a quarter as long")
    add(
        "--profile",
        type=float,
        default=0,
        metavar="SECONDS",
        help="py-spy the web and worker processes this long during --profile-phase",
    )
    add("--profile-phase", default="closed", help="default: closed")
    add("--out", default=str(RESULTS / "load.json"))


def measure(args, phases) -> tuple[dict, dict]:
    """Every phase on every variant: (summaries, raw numbers) by variant and phase."""
    names = args.names
    if len(names) == 1:  # nothing to take turns with: one closed loop, as long as all rounds
        phases = [
            dataclasses.replace(p, seconds=p.seconds * args.rounds) if p.kind == "closed" else p
            for p in phases
        ]
    urls = broker_urls(args.broker_url, names)
    variants = [Variant(name, args, url) for name, url in zip(names, urls, strict=True)]
    try:
        for variant in variants:
            variant.start()
        run_variants(variants, phases, args.rounds)
    finally:
        for variant in variants:
            variant.stop()
    summaries, raw = {}, {}
    for variant in variants:
        results = variant.results()
        summaries[variant.name] = {name: r.summary() for name, r in results.items()}
        raw[variant.name] = {
            name: {
                "flows": r.flows,
                "lag_cdf": r.lag_cdf(),
                "started": r.started,
                "lag_series": summaries[variant.name][name].get("lag_series"),
                "burst_end": r.phase.seconds,
                "backlog": r.backlog,
                "get_order_ms": r.get_order_ms,
            }
            for name, r in results.items()
        }
    return summaries, raw


def main() -> None:
    args = arguments()
    phases = phases_for(args)
    if args.phases:
        wanted = set(args.phases.split(","))
        phases = [p for p in phases if p.name in wanted]
    reference = [reference_cpu_ms()]
    say(f"reference CPU loop: {reference[0]} ms (the machine's speed now)")
    summaries, raw = measure(args, phases)
    sql = scrape = {}
    if not args.base_url:
        sql = in_process(
            "sql_per_checkout.py",
            "SQL statements per checkout (in-process)",
        )
        scrape = in_process("metrics_scrape.py", "GET /metrics with 10,000 orders (in-process)")
    lines = report(summaries, sql, phases, scrape)
    reference.append(reference_cpu_ms())
    lines.append(f"\nReference CPU loop before / after the run: {reference[0]} / {reference[1]} ms")
    print("\n".join(lines))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "reference_cpu_loop_ms": reference,
    }
    database = "postgresql" if args.database_url.startswith("postgres") else "sqlite"
    out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine,
                "database": database,
                "variants": list(summaries),
                "baseline": BASELINE,
                "headline_ratios": headline(summaries),
                "summary": summaries,
                "sql_per_checkout": sql,
                "metrics_scrape": scrape,
                "table": lines,
                "raw": raw,
            },
            indent=1,
        )
    )
    png = out.with_suffix(".png")
    plot(raw, png)
    say(f"\nraw numbers: {out}\nplot: {png}")


if __name__ == "__main__":
    main()
