"""Row locks held by another transaction, as another process's would hold them: a thread
with a database connection of its own."""

import contextlib
import threading
from collections.abc import Callable

from django.db import connection, transaction


@contextlib.contextmanager
def held_by_another_transaction(take: Callable[[], object], *, then: Callable | None = None):
    """Within the block, another connection's transaction has run `take()` (its row locks
    taken) and is still open; as the block ends, that transaction runs `then()`, when
    given, and commits. Every wait is bounded (10 s)."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                take()
                locked.set()
                release.wait(timeout=10)
                if then is not None:
                    then()
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=10), "the other transaction did not take its locks"
        yield
    finally:
        release.set()
        holder.join(timeout=10)
