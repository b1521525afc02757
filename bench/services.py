"""CPU per call of the checkout and of each side-effect service, in process: no HTTP, no
Celery worker, no load, so the figures move only with the code (and the machine's speed).
With --against REV, the same calls on another revision in the same run, rounds taking
turns, so that a drift in the machine's speed hits both: the ratio is the figure to read.

    make bench-services BENCH_ARGS="--against cbea19f"

pyperf times the calls (bench/services_calls.py): each round, for each tree (this
checkout, or a git worktree of REV), a pyperf run of its own on a fresh, migrated
database (PostgreSQL when DATABASE_URL points at one), DEBUG off, its worker processes
appending to that tree's pyperf file. Per order: the checkout (cart and line made
beforehand; its outbox rows written, the relay's publish not included), then each
side-effect service on an order of its own (batch size 1; email through the locmem
backend, the SMTP conversation not included), and the email on six orders a call (per
order: about what a message carries at 30 orders/s). Prints the table (pyperf's median CPU ms
per call, and its mean +- std dev), pyperf's own comparison of the two trees, and writes
bench/results/services.json.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyperf
from common import RESULTS, ROOT, WORK, say
from stack import fresh_database

CALLS = ("checkout", "inventory", "analytics", "email", "email_in_sixes")
SIDE_EFFECTS = ("inventory", "analytics", "email")


def child_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-only-not-a-secret",
        SHOPFLOW_SITE_URL="http://127.0.0.1:8000",
        DATABASE_URL=database_url,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        CELERY_BROKER_URL="memory://",
        SHOPFLOW_SIDE_EFFECT_BATCH_SIZE="1",
        SHOPFLOW_DUPLICATE_WINDOW_MINUTES="10",
        LOG_LEVEL="WARNING",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py's choice (production, by DJANGO_DEBUG)
    return env


def run_round(tree: Path, label: str, round_: int, args, out: Path) -> None:
    """One pyperf run of every call on `tree`, its values appended to `out`."""
    database = fresh_database(args.database_url, f"services_{label}_{round_}")
    env = child_env(database)
    steps = [
        [sys.executable, "manage.py", "migrate", "--noinput"],
        [
            sys.executable,
            str(ROOT / "bench" / "services_calls.py"),
            "--copy-env",
            "--processes",
            str(args.processes),
            "--warmups",
            "1",
            "--values",
            str(args.values),
            "--loops",
            str(args.loops),
            "--append",
            str(out),
            "--quiet",
        ],
    ]
    for command in steps:
        done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"bench/services.py: {command[1]} on {label} failed:\n{done.stderr[-3000:]}")


def table(suites: dict[str, pyperf.BenchmarkSuite]) -> list[str]:
    """pyperf's median CPU ms per call (and mean +- std dev), by tree; their ratio."""
    labels = list(suites)
    header = ["CPU ms per call, pyperf median (mean +- std dev)", *labels]
    header += ["ratio"] if len(labels) == 2 else []
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    medians = {label: {} for label in labels}
    for name in CALLS:
        cells = []
        for label, suite in suites.items():
            bench = suite.get_benchmark(name)
            medians[label][name] = bench.median() * 1000
            cells.append(
                f"{bench.median() * 1000:.2f} ({bench.mean() * 1000:.2f} +- "
                f"{bench.stdev() * 1000:.2f})"
            )
        lines.append(row(name, cells, [medians[label][name] for label in labels]))
    sums = [sum(medians[label][name] for name in SIDE_EFFECTS) for label in labels]
    lines.append(row("side effects, all three", [f"{s:.2f}" for s in sums], sums))
    return lines


def row(name: str, cells: list[str], values: list[float]) -> str:
    extra = [f"{values[0] / values[1]:.2f}x"] if len(values) == 2 and values[1] else []
    return "| " + " | ".join([name, *cells, *extra]) + " |"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--against", metavar="REV", help="also measure this git revision")
    add("--rounds", type=int, default=3, help="pyperf runs per tree, taking turns")
    add("--processes", type=int, default=1, help="pyperf worker processes per round")
    add("--values", type=int, default=5, help="pyperf values per process")
    add("--loops", type=int, default=20, help="calls per value")
    add(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "sqlite:///"),
        help="server for the bench databases (default: DATABASE_URL, else SQLite)",
    )
    add("--out", default=str(RESULTS / "services.json"))
    return parser.parse_args()


def measure(args, trees: dict[str, Path]) -> dict[str, Path]:
    """Every round on every tree, taking turns: {label: its pyperf file}."""
    WORK.mkdir(parents=True, exist_ok=True)
    names = ["this-tree", *(label.replace("/", "-") for label in list(trees)[1:])]
    files = {
        label: WORK / f"services-{name}.json" for label, name in zip(trees, names, strict=True)
    }
    for path in files.values():
        path.unlink(missing_ok=True)
    for round_ in range(1, args.rounds + 1):
        for n, (label, tree) in enumerate(trees.items()):
            say(f"round {round_}/{args.rounds}: {label}")
            run_round(tree, "ab"[n], round_, args, files[label])
    return files


def measure_trees(args) -> dict[str, Path]:
    """This tree and, with --against, a git worktree of REV, removed afterwards."""
    trees = {"this tree": ROOT}
    worktree = None
    if args.against:
        worktree = Path(tempfile.mkdtemp(prefix="shopflow-against-"))
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(worktree), args.against],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        trees[args.against] = worktree
    try:
        files = measure(args, trees)
    finally:
        if worktree is not None:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(worktree)],
                cwd=ROOT,
                check=False,
                capture_output=True,
            )
            shutil.rmtree(worktree, ignore_errors=True)
    return files


def main() -> None:
    args = arguments()
    files = measure_trees(args)
    suites = {label: pyperf.BenchmarkSuite.load(str(path)) for label, path in files.items()}
    lines = table(suites)
    if len(files) == 2:  # pyperf's own reading: which differences are significant
        compared = subprocess.run(
            [sys.executable, "-m", "pyperf", "compare_to", *map(str, files.values()), "--table"],
            capture_output=True,
            text=True,
            check=False,
        )
        lines += ["", f"pyperf compare_to ({' vs '.join(files)}):", compared.stdout.rstrip()]
    print("\n".join(lines))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    database = "postgresql" if args.database_url.startswith("postgres") else "sqlite"
    out.write_text(
        json.dumps(
            {
                "against": args.against,
                "rounds": args.rounds,
                "database": database,
                "pyperf": {label: json.loads(path.read_text()) for label, path in files.items()},
                "table": lines,
            },
            indent=1,
        )
    )
    say(f"\nraw numbers: {out}")


if __name__ == "__main__":
    main()
