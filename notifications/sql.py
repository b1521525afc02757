"""What the ORM cannot say, of the notifications: the version of the database a count was
read at (`unread_as_of`: of two counts, the greater version is the newer), and reads that
share one snapshot (docs/notifications.md, "The unread count"). A version is read outside a
transaction that wrote: its own writes are in its snapshot, and no version names them."""

import contextlib
import time

from django.db import connection, transaction
from django.db.models import CharField
from django.db.models.expressions import RawSQL

_RUNNING_MAX = 0xFFFFFF  # above PostgreSQL's limit of backends and prepared transactions


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def snapshot_version() -> RawSQL:
    """PostgreSQL: an annotation, the version of a statement's own snapshot: its `xmax`,
    then how many older transactions were still running (fewer: newer)."""
    return RawSQL(
        "lpad(to_hex(pg_snapshot_xmax(pg_current_snapshot())::text::bigint), 16, '0') || lpad("
        "to_hex(%s - (SELECT count(*) FROM pg_snapshot_xip(pg_current_snapshot()))::int), 6, '0')",
        (_RUNNING_MAX,),
        CharField(),
    )


def locked_version() -> str:
    """SQLite: the version of what a read holding the write lock (atomic) sees: its time."""
    return f"{time.time_ns():016x}{_RUNNING_MAX:06x}"


@contextlib.contextmanager
def one_snapshot():
    """The block's reads see one state of the database: PostgreSQL's REPEATABLE READ,
    read only; SQLite's write lock. Inside a transaction already (a test's), that one."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if on_postgresql():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield
