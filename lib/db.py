"""Database helpers shared by the apps.

The statements every checkout and every side-effect task runs are written out instead of
built with the ORM: building and compiling a queryset costs several times the CPU of the
statement itself (0.7 to 0.9 ms against about 0.1 ms, the load benchmark's profile of the
web and worker processes). `insert_rows`, `update_rows` and `delete_rows` are
bulk_create(), QuerySet.update() and delete() for the plain shapes those statements have;
the values still go through the fields' own preparation, so they behave as the ORM's on
PostgreSQL and SQLite.
"""

import functools
from contextlib import nullcontext

from django.db import connection, transaction
from django.db.models.constants import OnConflict


def insert_unless_exists(instance) -> bool:
    """INSERT `instance`; False when a unique constraint says the row is there already.

    One statement (INSERT ... ON CONFLICT DO NOTHING), no savepoint even inside a
    transaction: a get_or_create would read first and wrap the insert in a transaction,
    four round trips where the first delivery of a task needs one.
    """
    return insert_rows([instance], ignore_conflicts=True) == 1


def insert_rows(rows: list, *, ignore_conflicts: bool = False) -> int:
    """bulk_create() of `rows` (instances of one model) in one INSERT written out; returns
    how many rows went in.

    Every concrete field is written but an auto primary key, which must not be set and is
    set on the rows where the database returns it (PostgreSQL, SQLite >= 3.35), as
    bulk_create sets it. With `ignore_conflicts`, rows that a unique constraint refuses are
    skipped (and no row gets its primary key). Related objects must be saved first (a
    ValueError otherwise, as bulk_create). Sends no signals, as bulk_create; auto_now_add
    fields get their time. Rows past what one statement can take go in several, in one
    transaction.
    """
    if not rows:
        return 0
    model = type(rows[0])
    meta = model._meta
    fields = _insert_fields(model)
    for row in rows:
        if meta.auto_field is not None and row.pk is not None:
            raise ValueError(f"insert_rows: {model.__name__} row with its primary key set")
        row._prepare_related_fields_for_save(operation_name="insert_rows")
    returning = (
        meta.auto_field is not None
        and not ignore_conflicts
        and connection.features.can_return_rows_from_bulk_insert
    )
    size = max(connection.ops.bulk_batch_size(fields, rows), 1)
    chunks = [rows[start : start + size] for start in range(0, len(rows), size)]
    inserted = 0
    with transaction.atomic(savepoint=False) if len(chunks) > 1 else nullcontext():
        for chunk in chunks:
            params = []
            for row in chunk:
                params += [
                    field.get_db_prep_save(field.pre_save(row, True), connection)
                    for field in fields
                ]
            sql = _insert_sql(connection.vendor, model, len(chunk), ignore_conflicts, returning)
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                if returning:
                    keys = cursor.fetchall()
                    for row, (key,) in zip(chunk, keys, strict=True):
                        row.pk = key
                    inserted += len(keys)
                else:
                    inserted += cursor.rowcount
    for row in rows:
        row._state.adding = False
        row._state.db = connection.alias
    return inserted


def placeholders(count: int) -> str:
    """`%s, %s, ...`: the parameters of a VALUES row or an IN list of `count` values."""
    return ", ".join(["%s"] * count)


@functools.cache
def _insert_fields(model) -> list:
    meta = model._meta
    if meta.parents:
        raise TypeError(f"insert_rows: {model.__name__} inherits from a concrete model")
    return [field for field in meta.concrete_fields if field is not meta.auto_field]


@functools.lru_cache(maxsize=128)
def _insert_sql(vendor: str, model, count: int, ignore_conflicts: bool, returning: bool) -> str:
    ops = connection.ops
    fields = _insert_fields(model)
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    row = f"({placeholders(len(fields))})"
    sql = (
        f"{ops.insert_statement(on_conflict=on_conflict)} {ops.quote_name(model._meta.db_table)} "
        f"({', '.join(ops.quote_name(field.column) for field in fields)}) "
        f"VALUES {', '.join([row] * count)}"
    )
    suffix = ops.on_conflict_suffix_sql(fields, on_conflict, None, None)
    if suffix:
        sql += f" {suffix}"
    if returning:
        sql += f" RETURNING {ops.quote_name(model._meta.pk.column)}"
    return sql


def update_rows(model, *, values: dict, **where) -> int:
    """QuerySet.update() of `values` (plain values, no expressions) on the rows of `model`
    that match every condition of `where` (see `_where`). One UPDATE written out; returns
    how many rows matched (nothing is run for an empty `__in`)."""
    meta = model._meta
    params = [
        meta.get_field(name).get_db_prep_save(value, connection) for name, value in values.items()
    ]
    conditions = _where(model, where, params)
    if conditions is None:
        return 0
    sql = _update_sql(connection.vendor, model, tuple(values), conditions)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def delete_rows(model, **where) -> int:
    """QuerySet.delete() of the rows of `model` that match every condition of `where` (see
    `_where`), without the ORM's collector: no cascade to related rows and no signals, so
    the caller deletes the related rows first. Returns how many rows went."""
    params = []
    conditions = _where(model, where, params)
    if conditions is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_delete_sql(connection.vendor, model, conditions), params)
        return cursor.rowcount


def _where(model, where: dict, params: list) -> tuple | None:
    """The shape of `where` (`field=value` or `field__in=[values]`, `pk` for the primary
    key, all ANDed), its values appended to `params` as the fields prepare them; None
    when an empty `__in` matches nothing."""
    if not where:
        raise ValueError("no condition: every row would change")
    meta = model._meta
    conditions = []
    for key, value in where.items():
        name, _, lookup = key.partition("__")
        field = meta.pk if name == "pk" else meta.get_field(name)
        if lookup == "in":
            value = list(value)
            if not value:
                return None
            conditions.append((field.column, len(value)))
            params += [field.get_db_prep_value(item, connection) for item in value]
        elif not lookup:
            conditions.append((field.column, None))
            params.append(field.get_db_prep_value(value, connection))
        else:
            raise ValueError(f"unsupported lookup {key!r}")
    return tuple(conditions)


def _where_sql(conditions: tuple) -> str:
    quote = connection.ops.quote_name
    return " AND ".join(
        f"{quote(column)} = %s" if count is None else f"{quote(column)} IN ({placeholders(count)})"
        for column, count in conditions
    )


@functools.lru_cache(maxsize=128)
def _update_sql(vendor: str, model, names: tuple, conditions: tuple) -> str:
    meta, quote = model._meta, connection.ops.quote_name
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in names)
    return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {_where_sql(conditions)}"


@functools.lru_cache(maxsize=128)
def _delete_sql(vendor: str, model, conditions: tuple) -> str:
    table = connection.ops.quote_name(model._meta.db_table)
    return f"DELETE FROM {table} WHERE {_where_sql(conditions)}"


def attach_related(instance, **related: list) -> None:
    """Give `instance` its related rows (by related name) as prefetch_related would have
    loaded them, so that reading them (`order.items.all()`) costs no query: for rows just
    written, or loaded from the other side of the relation in one query."""
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    cache.update(related)


class ModelColumns:
    """What a hand-written SELECT reads of one model, under a table alias: `fields` (by
    name; all when None), the primary key always among them.

    For the few statements every task runs: the ORM's building and compiling of a joined
    queryset costs several times the CPU of the statement itself. `select()` gives the
    column list; `instances()` turns rows back into model instances as the ORM would (the
    ORM's own converters: SQLite returns decimals as numbers and datetimes as text), with
    the fields not read deferred.
    """

    def __init__(self, model, alias: str, fields: tuple[str, ...] | None = None):
        meta = model._meta
        if fields is None:  # all of them
            fields = tuple(field.name for field in meta.concrete_fields)
        wanted = {meta.pk.attname, *(meta.get_field(name).attname for name in fields)}
        # Model.from_db() takes the values in the order of the model's fields.
        self.model = model
        self.alias = alias
        self.fields = [f for f in meta.concrete_fields if f.attname in wanted]
        self.attnames = [f.attname for f in self.fields]

    def select(self) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(field.column)}" for field in self.fields)

    def instances(self, rows, start: int) -> list:
        """One instance per row, from the row's values at `start` onwards."""
        converters = []
        for field in self.fields:
            col = field.get_col(field.model._meta.db_table)
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            converters.append([(convert, col) for convert in found])
        width = len(self.fields)
        made = []
        for row in rows:
            values = list(row[start : start + width])
            for index, pairs in enumerate(converters):
                for convert, col in pairs:
                    values[index] = convert(values[index], col, connection)
            made.append(self.model.from_db(connection.alias, self.attnames, values))
        return made
