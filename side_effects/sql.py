"""The one statement of side effects the ORM cannot say: an UPDATE that tells which rows
it changed (UPDATE ... RETURNING), so that a task claims its batch of work and marks it
done in one round trip, in the transaction that does the work.

tests/side_effects/test_sql.py checks it against the ORM's equivalent (a read, then an
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
    meta = OrderSideEffect._meta
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.get_field("id").column)
    kind_, order, status, error, created_at, updated_at = (
        quote(meta.get_field(name).column)
        for name in ("kind", "order", "status", "error", "created_at", "updated_at")
    )
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
    now = meta.get_field("updated_at").get_db_prep_value(timezone.now(), connection)
    done, pending, failed = Status.DONE.value, Status.PENDING.value, Status.FAILED.value
    params = [kind, order_id, pending, failed, kind, pending, order_id, others, done, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted((order_id, _aware(created)) for order_id, created in cursor.fetchall())


def _aware(value) -> datetime:
    """A timestamp as the ORM would read it: SQLite's driver gives text for a RETURNING
    column, and naive UTC."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value
