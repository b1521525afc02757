"""What works around another library's insides, fenced here and nowhere else (docs/
architecture.md, "Other libraries' insides"). Each module patches one behaviour its
library's public API cannot change, and names the upstream issue or pull request it works
around, the versions it was checked against (`version_guard`: any other refuses to load,
so an upgrade stops the tests and the processes until someone looks) and its canary test
in tests/worker/compat/, which fails once upstream fixes the bug (then the patch goes).
Importing this package applies nothing."""

import re
from importlib.metadata import version


class UncheckedVersion(RuntimeError):
    """A patch loaded on a version of its library it was not checked against."""


def version_guard(distribution: str, *, checked: tuple[str, str], patch: str) -> None:
    """Raise UncheckedVersion unless the installed `distribution` is within `checked`,
    (lowest, first excluded): `patch` (its module) was checked against those only."""
    installed = version(distribution)
    lowest, excluded = checked
    if not _release(lowest) <= _release(installed) < _release(excluded):
        raise UncheckedVersion(
            f"{patch} was checked against {distribution} {lowest} up to {excluded} "
            f"(excluded), not {installed}: run its canary test in tests/worker/compat/; if it "
            "fails, upstream fixed the bug and the patch goes, else widen its range."
        )


def _release(text: str) -> tuple[int, ...]:
    """(5, 7, 0) of "5.7.0", "5.7.0rc1" or "5.7"; (0,) of what has no release number."""
    found = re.match(r"\d+(\.\d+)*", text)
    return tuple(int(part) for part in found.group().split(".")) if found else (0,)
