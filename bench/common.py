"""What the benchmarks share: where things are (importing this puts the project on
sys.path), and the table's cells."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "var" / "bench"


def say(line: str) -> None:
    print(line, flush=True)


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return " / ".join(fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:.1f}" if value < 1000 else f"{value:.0f}"
    return str(value)


def row(*cells) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"
