"""What each test process owns when pytest-xdist runs the suite in several (`make test`):
its PostgreSQL database (pytest-django names it after the process), its Redis databases,
its ports (from the OS, tests.support.processes) and its temporary directories. What
cannot be split, one process at a time: the machine's RabbitMQ (a test stops it), the
compose stack (its published ports), the hosts' bed (a module's fixture)."""

import os
from urllib.parse import urlsplit, urlunsplit

import pytest

# Tests that must run in one process, one after the other (xdist's loadgroup).
ONE_AT_A_TIME_ON_RABBITMQ = pytest.mark.xdist_group("rabbitmq")


def process_number() -> int:
    """0 for a run in one process; N for xdist's gwN."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def redis_database(url: str) -> str:
    """The database of the machine's Redis at `url` that this process owns: the URL's own
    (15 by default) minus two a process, so that each has that one and the one below it
    (`next_redis_database`). Four processes take databases 8 to 15; `make run` keeps 0."""
    number = _database(url) - 2 * process_number()
    if number < 1:
        raise pytest.UsageError(f"{url}: too few Redis databases for this many processes")
    return _with_database(url, number)


def next_redis_database(url: str) -> str:
    """The second database of this process's Redis (its in-process worker's broker)."""
    number = _database(url)
    return _with_database(url, number - 1 if number > 1 else number + 1)


def _database(url: str) -> int:
    return int(urlsplit(url).path.strip("/") or 0)


def _with_database(url: str, number: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{number}"))
