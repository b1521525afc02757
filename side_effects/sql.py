"""The statements of side effects the ORM cannot say: UPDATEs that tell which rows they
changed (UPDATE ... RETURNING), so that a task claims its batch of work and marks it done
in one round trip, in the transaction that does the work, and an email's side effect is
marked done, its lag observed once, in one round trip too.

tests/side_effects/test_sql.py checks them against the ORM's equivalents (a read, then an
UPDATE) on SQLite and on PostgreSQL."""

from datetime import UTC, datetime

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .models import OrderSideEffect

Status = OrderSideEffect.Status


def side_effects_claim_done(*, kind: str, order_id: int, others: int) -> list[tuple[int, datetime]]:
    """Mark done `order_id`'s `kind` side effect if it is pending or failed, and those of up
    to `others` other orders whose `kind` is pending, oldest first; (order id, created_at)
    of each row marked, in order. Rows another transaction holds are skipped, its own as
    the others: no claim waits for another, so two claims of crossing batches cannot
    deadlock."""
    table, pk, kind_, order, status, error, created_at, updated_at = _names()
    # SQLite locks the whole database for a writer: nothing to skip.
    skip_locked = (
        " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    sql = (
        f"WITH own AS (SELECT {pk} FROM {table} "
        f"WHERE {kind_} = %s AND {order} = %s AND {status} IN (%s, %s){skip_locked}), "
        f"others AS (SELECT {pk} FROM {table} WHERE {kind_} = %s AND {status} = %s "
        f"AND {order} <> %s ORDER BY {order} LIMIT %s{skip_locked}) "
        f"UPDATE {table} SET {status} = %s, {error} = '', {updated_at} = %s "
        f"WHERE {pk} IN (SELECT {pk} FROM own UNION ALL SELECT {pk} FROM others) "
        f"RETURNING {order}, {created_at}"
    )
    now = _now()
    done, pending, failed = Status.DONE.value, Status.PENDING.value, Status.FAILED.value
    params = [kind, order_id, pending, failed, kind, pending, order_id, others, done, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted((order_id, _aware(created)) for order_id, created in cursor.fetchall())


def side_effects_mark_done(*, kind: str, order_ids: list[int]) -> list[datetime]:
    """Mark done the `kind` side effects of these orders that are not done yet; the
    created_at of each row marked. The rows are locked in primary-key order first: two
    marks of the same rows take them one after the other, and the second, reading them
    again once it has them, finds them done and marks (and returns) nothing."""
    if not order_ids:
        return []
    table, pk, kind_, order, status, error, created_at, updated_at = _names()
    # SQLite locks the whole database for a writer: no row lock to take.
    for_update = " FOR UPDATE" if connection.features.has_select_for_update else ""
    ids = ", ".join(["%s"] * len(order_ids))
    sql = (
        f"WITH locked AS (SELECT {pk} FROM {table} WHERE {kind_} = %s AND {order} IN ({ids}) "
        f"AND {status} <> %s ORDER BY {pk}{for_update}) "
        f"UPDATE {table} SET {status} = %s, {error} = '', {updated_at} = %s "
        f"WHERE {pk} IN (SELECT {pk} FROM locked) RETURNING {created_at}"
    )
    now = _now()
    done = Status.DONE.value
    with connection.cursor() as cursor:
        cursor.execute(sql, [kind, *order_ids, done, done, now])
        return sorted(_aware(created) for (created,) in cursor.fetchall())


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
