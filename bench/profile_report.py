"""CPU ms an order by process and part of its work, from a run of bench/load.py with
--profile: each process kind's CPU an order (the run's JSON) split by the share of its
py-spy samples in each part (bench/profile_parts.py).

    .venv/bin/python bench/load.py --variants async,plain --phases open30 \\
        --profile 25 --profile-phase open30 --out var/bench/profiled.json
    .venv/bin/python bench/profile_report.py var/bench/profiled.json --phase open30

The profiles read are the phase's newest written before the run ended (its JSON's
"when"): each profiled run writes its own, all within seconds of each other."""

import argparse
import json
import sys
from datetime import datetime
from itertools import chain
from pathlib import Path

from common import WORK, fmt, row
from cpu import STACK
from profile_parts import parts, stacks

# A run's profiles all end within a few seconds of each other (py-spy runs as long on each).
SAME_RUN_SECONDS = 30


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="the JSON bench/load.py wrote (--out)")
    parser.add_argument("--phase", default="open30", help="the profiled phase (open30)")
    args = parser.parse_args(argv)
    try:
        ended, summaries = _read(args.run, args.phase)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"profile_report: {args.run} is not a run of bench/load.py: {exc}", file=sys.stderr)
        return 2
    tables = [
        _table(variant, args.phase, summary, _profiles(variant, args.phase, ended))
        for variant, summary in summaries.items()
    ]
    if not any(tables):
        print(f"profile_report: no profile of {args.phase} in {WORK}", file=sys.stderr)
        return 2
    print("\n\n".join("\n".join(lines) for lines in tables if lines))
    return 0


def _read(run: Path, phase: str) -> tuple[float, dict[str, dict[str, float]]]:
    """When the run ended, and each variant's summary of `phase`."""
    data = json.loads(run.read_text())
    ended = datetime.fromisoformat(data["when"]).timestamp()
    summaries = {
        variant: {
            "stack": float(phases[phase]["stack_cpu_ms_per_order"]),
            "cpu": {kind: float(ms) for kind, ms in phases[phase]["cpu_ms_per_order"].items()},
        }
        for variant, phases in data["summary"].items()
        if phase in phases
    }
    return ended, summaries


def _profiles(variant: str, phase: str, ended: float) -> dict[str, list[Path]]:
    """The raw profiles of each process kind (one a process tree) of the newest profiled
    run of this variant's phase that ended by `ended`."""
    written = {
        path: path.stat().st_mtime for path in WORK.glob(f"profile-{variant}-{phase}-*[0-9].txt")
    }
    found = {path: when for path, when in written.items() if when <= ended + 1}
    if not found:
        return {}
    newest = max(found.values())
    by_kind: dict[str, list[Path]] = {}
    for path, when in found.items():
        if when >= newest - SAME_RUN_SECONDS:
            by_kind.setdefault(path.stem.split("-")[-2], []).append(path)
    return by_kind


def _table(variant: str, phase: str, summary: dict, profiles: dict[str, list[Path]]) -> list[str]:
    """The rows of one variant: kind, part, share of the kind's samples, ms an order; the
    stack's kinds not profiled (beat, PostgreSQL, Redis) whole, so that the rows add up
    to the stack's CPU an order. None without a profile."""
    if not profiles:
        return []
    cpu, lines = summary["cpu"], []
    for kind in (kind for kind in STACK if kind in cpu):
        samples = chain.from_iterable(stacks(path) for path in profiles.get(kind, []))
        counts = parts(samples)  # most first
        total = sum(counts.values())
        if not total:
            lines.append(row(kind, "(not profiled)", "100%", fmt(cpu[kind])))
        for part, count in counts.items():
            share = count / total
            lines.append(row(kind, part, f"{100 * share:.0f}%", fmt(cpu[kind] * share)))
    stack = fmt(summary["stack"])
    title = f"{variant}, {phase}: CPU ms an order, by process and part ({stack} in all)"
    head = [title, "", row("process", "part", "share", "ms an order"), row(*["---"] * 4)]
    return head + lines


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
