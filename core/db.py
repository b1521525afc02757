"""Database helpers shared by the apps."""

from contextlib import nullcontext

from django.db import IntegrityError, connection, transaction


def insert_unless_exists(instance) -> bool:
    """INSERT `instance`; False when its unique constraint says the row is there already.

    One statement in autocommit mode (a worker's task); inside a transaction, in a
    savepoint, since a failed statement aborts the whole transaction on PostgreSQL. A
    get_or_create would read first and wrap the insert in a transaction: four round trips
    where the first delivery of a task needs one.
    """
    try:
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            instance.save(force_insert=True)
    except IntegrityError:
        return False
    return True


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
