"""Each patch in worker.compat loads only on the versions it was checked against."""

import pytest

from worker.compat import UncheckedVersion, version_guard


def test_a_version_in_the_range_checked_loads():
    version_guard("kombu", checked=("5.7.0", "5.8"), patch="test")


@pytest.mark.parametrize("checked", [("5.8.0", "6"), ("5.0", "5.7")])
def test_a_version_outside_it_refuses_with_what_to_do(checked):
    with pytest.raises(UncheckedVersion, match=r"test was checked against kombu .*canary"):
        version_guard("kombu", checked=checked, patch="test")
