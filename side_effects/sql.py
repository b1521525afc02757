"""The statement of side effects the ORM cannot say: an UPDATE that tells which rows it
changed (UPDATE ... RETURNING), so that a task claims its batch of work and marks it done
in one round trip, in the transaction that does the work, and an email's side effects are
marked done, their lag observed once, in one round trip too.

tests/side_effects/test_sql.py checks it against the ORM's equivalent (a read, then an
UPDATE) on SQLite and on PostgreSQL."""

from datetime import UTC, datetime

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .models import OrderSideEffect

Status = OrderSideEffect.Status


def side_effects_mark_done(
    *, kind: str, order_ids: list[int], skip_locked: bool
) -> list[tuple[int, datetime]]:
    """Mark done the `kind` side effects of these orders that are not done yet (pending or
    failed); (order id, created_at) of each row marked, in order. The rows are locked in
    primary-key order first. With `skip_locked` (a task claiming its work), rows another
    transaction holds are left to it: no claim waits for another, so two claims of
    crossing batches cannot deadlock. Without it (an email marked after SMTP), the mark
    waits for them and, reading them again once it has them, marks none that the other
    marked done: a side effect's lag is observed once."""
    if not order_ids:
        return []
    table, pk, kind_, order, status, error, created_at, updated_at = _names()
    # SQLite locks the whole database for a writer: no row lock to take.
    lock = ""
    if connection.features.has_select_for_update:
        lock = " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"
    ids = ", ".join(["%s"] * len(order_ids))
    sql = (
        f"WITH locked AS (SELECT {pk} FROM {table} WHERE {kind_} = %s AND {order} IN ({ids}) "
        f"AND {status} <> %s ORDER BY {pk}{lock}) "
        f"UPDATE {table} SET {status} = %s, {error} = '', {updated_at} = %s "
        f"WHERE {pk} IN (SELECT {pk} FROM locked) RETURNING {order}, {created_at}"
    )
    done = Status.DONE.value
    with connection.cursor() as cursor:
        cursor.execute(sql, [kind, *order_ids, done, done, _now()])
        return sorted((order_id, _aware(created)) for order_id, created in cursor.fetchall())


def _names() -> list[str]:
    """The table's name and those of its columns, quoted: table, id, kind, order, status,
    error, created_at, updated_at."""
    meta = OrderSideEffect._meta
    quote = connection.ops.quote_name
    fields = ("id", "kind", "order", "status", "error", "created_at", "updated_at")
    return [quote(meta.db_table), *(quote(meta.get_field(name).column) for name in fields)]


def _now():
    """Now, as the database takes an `updated_at`."""
    field = OrderSideEffect._meta.get_field("updated_at")
    return field.get_db_prep_value(timezone.now(), connection)


def _aware(value) -> datetime:
    """A timestamp as the ORM would read it: SQLite's driver gives text for a RETURNING
    column, and naive UTC."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value
