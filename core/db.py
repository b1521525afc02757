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
