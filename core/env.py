"""Reading settings from the environment (core.settings)."""

import os
import sys


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def require(name: str, why: str = "") -> str:
    """A setting production cannot do without: its value, or one line and exit 2 (an
    operator's mistake, not a bug: no traceback)."""
    value = os.environ.get(name, "").strip()
    if not value:
        sys.stderr.write(f"{name} must be set when DJANGO_DEBUG is off{why}.\n")
        raise SystemExit(2)
    return value
