"""Waiting for a state without guessing how long it takes."""

import time

from django.db import connection

# The runner's own helpers: tests start Redis the way `make run` does.


def wait_for_a_lock_wait(timeout: float = 10.0, *, waiting: int = 1) -> None:
    """Wait until `waiting` transactions wait for locks others hold (PostgreSQL's pg_locks):
    the moment a test's second transaction is blocked, without guessing how long it takes."""

    def blocked() -> bool:
        with connection.cursor() as cursor:
            # A row lock waited for shows as a transactionid or tuple lock, which names no
            # database: the waiting backend's does.
            cursor.execute(
                "SELECT count(DISTINCT l.pid) FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.datname = current_database()"
            )
            return cursor.fetchone()[0] >= waiting

    wait_until(blocked, timeout=timeout, message=f"{waiting} transaction(s) to wait on a lock")


def wait_until(predicate, *, timeout: float = 20.0, interval: float = 0.1, message: str = ""):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)  # a fixed wait is the point: the interval between two checks
