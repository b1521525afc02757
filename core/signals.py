"""Sending a domain signal inside a database transaction, so that its receivers cannot
harm the sender (nor each other): their rows are inserted isolated, in savepoints
(docs/architecture.md, "Receivers, isolated"; tests/core/test_signals.py holds every
connected receiver to its rules)."""

import contextlib
import contextvars
import functools
import logging
from collections.abc import Callable

from django.db import DataError, IntegrityError, transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# What the database refuses for what the rows hold, rather than because it is unwell.
REFUSED = (IntegrityError, DataError)


# Rows and their on_commit callback, as given to insert_isolated().
_Rows = tuple[list, Callable[[list], None] | None, bool]
# The rows of the innermost isolated_inserts() block; None outside any.
_receiver_rows: contextvars.ContextVar[list[_Rows] | None] = contextvars.ContextVar(
    "receiver_rows", default=None
)


def receivers_connect(app: str, pairs) -> None:
    """Connect each (signal, receiver) pair once, by the dispatch_uid
    "<app>.<receiver's name>" (an app's ready() lists its receivers)."""
    for signal, receiver in pairs:
        signal.connect(receiver, dispatch_uid=f"{app}.{receiver.__name__}")


def insert_isolated(
    rows: list,
    *,
    on_commit: Callable[[list], None] | None = None,
    ignore_conflicts: bool = False,
) -> None:
    """Insert `rows` (unsaved model instances) in the caller's transaction and call
    `on_commit(rows)` once it commits. Inside `isolated_inserts()`, when that block ends,
    isolated as the module says; elsewhere at once, as bulk_create would. With
    `ignore_conflicts`, a row a unique constraint already holds is left out (bulk_create's
    option; such rows get no primary key)."""
    pending = _receiver_rows.get()
    if pending is None:
        _insert([(list(rows), on_commit, ignore_conflicts)])
    elif rows:
        pending.append((list(rows), on_commit, ignore_conflicts))


@contextlib.contextmanager
def isolated_inserts(about: str):
    """Hold the rows that `insert_isolated()` is given in this block and insert them when
    it ends, isolated from each other and from the caller (see the module). A block that
    raises inserts nothing. `about` names what the rows are about, for the log. Inside
    another such block, the rows wait for that block's end (one savepoint for all), and a
    block that raises drops its own: a receiver that may fail after giving rows wraps its
    work in one (a transaction.atomic() block it rolls back does not hold them)."""
    if (pending := _receiver_rows.get()) is not None:
        mark = len(pending)
        try:
            yield
        except BaseException:
            del pending[mark:]
            raise
        return
    token = _receiver_rows.set([])
    try:
        yield
        pending = _receiver_rows.get()
    finally:
        _receiver_rows.reset(token)
    _insert_each_isolated(pending, about)


def send_robust_isolated(signal: Signal, *, sender, about: str, **named) -> list:
    """`signal.send_robust(...)` with the receivers' rows isolated (see the module); each
    receiver that raised is logged with its traceback, its name and `about` (the signal
    and its subject: "order_created, order 42")."""
    with isolated_inserts(about):
        return send_robust_logged(signal, sender=sender, about=about, **named)


def send_robust_logged(signal: Signal, *, sender, about: str, **named) -> list:
    """`signal.send_robust(...)`, each receiver that raised logged with its traceback (for
    a signal sent after a commit, outside any transaction)."""
    responses = signal.send_robust(sender=sender, **named)
    for receiver, result in responses:
        if isinstance(result, Exception):
            name = f"{receiver.__module__}.{receiver.__qualname__}"  # Django's log reads it too
            logger.error("receiver %s failed for %s: %s", name, about, result, exc_info=result)
    return responses


def _insert_each_isolated(pending: list[_Rows], about: str) -> None:
    if not pending:
        return
    # One savepoint for all; should the database refuse it, each call's rows in their own.
    with contextlib.suppress(*REFUSED), transaction.atomic():
        _insert(pending)
        return
    for rows in pending:
        try:
            with transaction.atomic():
                _insert([rows])
        except REFUSED:
            logger.error(
                "rows refused by the database for %s, dropped: %s",
                about,
                "; ".join(str(row) for row in rows[0]),
                exc_info=True,
            )


def _insert(pending: list[_Rows]) -> None:
    by_model: dict[tuple[type, bool], list] = {}
    by_callback: dict[Callable, list] = {}
    for rows, on_commit, ignore_conflicts in pending:
        for row in rows:
            by_model.setdefault((type(row), ignore_conflicts), []).append(row)
        if on_commit is not None:
            by_callback.setdefault(on_commit, []).extend(rows)
    for (model, ignore_conflicts), rows in by_model.items():
        model._default_manager.bulk_create(rows, ignore_conflicts=ignore_conflicts)
    for callback, rows in by_callback.items():
        # Named as the callback: a robust on_commit that fails logs its __qualname__.
        call = functools.update_wrapper(functools.partial(callback, rows), callback)
        transaction.on_commit(call, robust=True)
