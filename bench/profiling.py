"""py-spy profiles of the stack's web and worker processes while a phase runs."""

import contextlib
import subprocess
import sys
from pathlib import Path

import psutil
from common import WORK
from cpu import CpuMeter, classify
from profile_parts import parts, stacks


def profile_stack(meter: CpuMeter, label: str, seconds: float) -> list[Path]:
    """py-spy on every web, relay, worker and Flower process (their pools included) for
    `seconds`, CPU samples only (--gil), while the load runs. Writes raw stacks and a
    summary per process tree to var/bench/ and returns the summaries."""
    py_spy = Path(sys.executable).parent / "py-spy"
    roots = []
    for kind in ("web", "relay", "worker", "mail", "flower"):
        for process in meter.processes().get(kind, []):
            with contextlib.suppress(psutil.Error):
                parent = process.parent()
                if parent is None or classify(parent) != kind:
                    roots.append((kind, process.pid))
    runs = []
    for kind, pid in roots:
        raw = WORK / f"profile-{label}-{kind}-{pid}.txt"
        command = [
            str(py_spy),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--gil",
            "--nonblocking",
            "--rate",
            "200",
            "--duration",
            str(int(seconds)),
            "--format",
            "raw",
            "--output",
            str(raw),
        ]
        runs.append(
            (raw, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        )
    summaries = []
    for raw, process in runs:
        process.wait()
        if raw.exists():
            summary = raw.with_suffix(".summary.txt")
            summary.write_text(summarise_stacks(raw))
            summaries.append(summary)
    return summaries


def summarise_stacks(raw: Path, top: int = 60) -> str:
    """Where the CPU samples go: by part of the work (bench/profile_parts.py), then the
    functions that hold the most, inclusive and self."""
    samples = list(stacks(raw))
    total = sum(count for _, count in samples)
    inclusive, own = {}, {}
    for stack, count in samples:
        frames = [frame.split(" (")[0] + " (" + frame.rsplit("/", 1)[-1] for frame in stack]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    lines = [f"{raw.name}: {total} samples with the GIL", "", "by part:"]
    for part, count in parts(samples).items():
        lines.append(f"{100 * count / total:6.1f}%  {part}")
    lines += ["", "inclusive:"]
    for frame, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{100 * count / total:6.1f}%  {frame}")
    lines += ["", "self:"]
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[: top // 2]:
        lines.append(f"{100 * count / total:6.1f}%  {frame}")
    return "\n".join(lines) + "\n"
