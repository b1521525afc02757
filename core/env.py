"""Reading settings from the environment (config/settings/, and worker/flowerconfig.py for
Flower). A value that does not parse is an operator's mistake: one line and exit 2, never
a silent default (DJANGO_SECURE_SSL_REDIRECT=flase must not turn the redirect off)."""

import os
import re
import sys
from email.utils import parseaddr
from typing import NoReturn

# What .env.example holds where a secret goes: a value still holding it was never set.
PLACEHOLDER = "change-me"

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
SWITCH = {**dict.fromkeys(TRUE, True), **dict.fromkeys(FALSE, False)}


def _env(name: str, default, parse, expected: str):
    value = os.environ.get(name, "").strip()
    try:
        return parse(value) if value else default
    except (ValueError, KeyError):
        refuse(name, value, expected)


def env_bool(name: str, default: bool) -> bool:
    return _env(name, default, lambda v: SWITCH[v.lower()], "1, true, yes, on, 0, false, no or off")


def env_int(name: str, default: int) -> int:
    return _env(name, default, int, "a whole number")


def env_float(name: str, default: float) -> float:
    return _env(name, default, float, "a number")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_email(name: str, default: str) -> str:
    """An address, bare or with a name (`Shopflow <orders@example.com>`). Quotes around the
    whole value are refused: some env-file readers (docker run --env-file, podman-compose)
    keep them, and every SMTP server then refuses the sender."""
    value = os.environ.get(name, "").strip() or default
    quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"
    if quoted or "@" not in parseaddr(value)[1]:
        refuse(name, value, "an address such as Shopflow <orders@example.com>, unquoted")
    return value


def env_currency(name: str, default: str) -> str:
    """An ISO 4217 code, as written there: three upper-case letters (EUR, USD, CHF)."""
    value = os.environ.get(name, "").strip() or default
    if not re.fullmatch(r"[A-Z]{3}", value):
        refuse(name, value, "an ISO 4217 currency code, three upper-case letters such as EUR")
    return value


def settings_module() -> str:
    """The settings a process runs with when DJANGO_SETTINGS_MODULE names none (every
    entry point's default): production, which fails closed, unless DJANGO_DEBUG is on."""
    return (
        "config.settings.local" if env_bool("DJANGO_DEBUG", False) else "config.settings.production"
    )


def require(name: str, why: str = "") -> str:
    """A setting production cannot do without: its value, or one line and exit 2 (an
    operator's mistake, not a bug: no traceback)."""
    value = os.environ.get(name, "").strip()
    if not value:
        refuse_in_one_line(f"{name} must be set when DJANGO_DEBUG is off{why}.")
    return value


def refuse_placeholder(name: str, where: str = "") -> None:
    """One line and exit 2 when `name` still holds .env.example's placeholder."""
    if PLACEHOLDER in os.environ.get(name, ""):
        refuse_in_one_line(
            f"{name} still holds the placeholder {PLACEHOLDER!r}{where}: set a real secret."
        )


def refuse(name: str, value: str, expected: str) -> NoReturn:
    """One line naming the variable and what it must be, then exit 2."""
    refuse_in_one_line(f"{name} must be {expected}, not {value!r}.")


def refuse_in_one_line(line: str) -> NoReturn:
    """`line` on stderr, then exit 2; also for a setting that would break another (the
    windows in the settings)."""
    sys.stderr.write(line + "\n")
    raise SystemExit(2)
