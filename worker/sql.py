"""The statements the ORM cannot say, of worker: a lock on a name, not on a row."""

from django.db import connection


def advisory_xact_lock(*, name: str) -> None:
    """Wait for PostgreSQL's advisory lock on `name`, held to the end of the caller's
    transaction (bounded by the connection's lock_timeout). SQLite, which runs one writer
    at a time, takes none: it is `make run`'s single-machine database."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])
