"""The whole stack behind PgBouncer in transaction pooling mode: many processes (web,
dispatcher, workers, beat), few connections to PostgreSQL, and every side effect done once;
and the bounds on every wait, which PgBouncer does not let a session set, set on the role
as docs/operations.md says."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import psycopg
import pytest
from django.db import connection
from django.db.models import Sum

from analytics_app.models import DailySummary
from config.settings.database import server_bounds_ms
from devstack.stack import free_port
from tests.support.jobs import order_jobs
from tests.support.pgbouncer import POOL_SIZE, PgBouncer, bounds_on_the_role
from tests.support.polling import wait_until
from tests.support.processes import python_run
from tests.support.stack import checkout_as_a_new_customer, runstack, stack_env

pytestmark = pytest.mark.django_db(transaction=True)

ORDERS = 12


class PoolWatch:
    """The most client and server connections PgBouncer held for one database, read from
    its admin console every 50 ms in a thread."""

    def __init__(self, bouncer: PgBouncer, database: str):
        self.bouncer, self.database = bouncer, database
        self.clients = self.servers = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.stop.wait(0.05):
            pool = self.bouncer.pools().get(self.database)
            if pool is not None:
                self.clients = max(self.clients, pool.clients)
                self.servers = max(self.servers, pool.servers)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)


@pytest.fixture
def role_bounded():
    """The server's bounds on the role, as production sets them behind PgBouncer."""
    with bounds_on_the_role(server_bounds_ms()) as bounds:
        yield bounds


def test_pgbouncer_refuses_a_sessions_options_and_the_roles_bounds_end_an_idle_transaction(
    pgbouncer, role_bounded
):
    """Why the bounds go on the role behind PgBouncer, and that they hold there: a
    transaction left idle through PgBouncer is ended by the server, and its lock freed."""
    url = pgbouncer.url(connection.settings_dict["NAME"])
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter"):
        psycopg.connect(url, options="-c statement_timeout=1000").close()

    idle_seconds = role_bounded["idle_in_transaction_session_timeout"] / 1000
    # Closed, not committed, at the end: the server has ended its transaction.
    with closing(psycopg.connect(url)) as idle, psycopg.connect(url, autocommit=True) as other:
        shown = idle.execute("SHOW idle_in_transaction_session_timeout").fetchone()[0]
        assert shown == f"{idle_seconds:.0f}s"
        idle.execute("LOCK TABLE django_migrations IN EXCLUSIVE MODE")  # then left idle

        def lock_free() -> bool:
            try:
                with other.transaction():
                    other.execute("SET LOCAL lock_timeout = 100")
                    other.execute("LOCK TABLE django_migrations IN EXCLUSIVE MODE")
            except psycopg.errors.LockNotAvailable:
                return False
            return True

        assert not lock_free()
        wait_until(lock_free, timeout=idle_seconds + 20, message="the idle transaction's end")


@pytest.mark.timeout(600)  # its start behind a small pool and its waits, on a loaded machine
def test_the_stack_behind_pgbouncer_in_transaction_mode_does_every_side_effect_once(
    pgbouncer, role_bounded, smtp_server, broker_url, tmp_path
):
    database = connection.settings_dict["NAME"]
    port, flower_port = free_port(), free_port()
    env = stack_env(
        smtp_server,
        broker_url,
        port,
        flower_port,
        DATABASE_URL=pgbouncer.url(database),
        DATABASE_TRANSACTION_POOLING=1,
        WEB_CONCURRENCY=2,
        WORKER_CONCURRENCY=2,
    )
    with (
        runstack(env, tmp_path / "stack.log", port, flower_port) as stack,
        PoolWatch(pgbouncer, database) as watch,
    ):
        with ThreadPoolExecutor(max_workers=6) as pool:
            placed = list(
                pool.map(lambda n: checkout_as_a_new_customer(stack, f"shopper{n}"), range(ORDERS))
            )
        order_ids = [order_id for _, order_id in placed]
        done = order_jobs().filter(key__in=[str(o) for o in order_ids], status="done")
        wait_until(
            lambda: done.count() == 3 * ORDERS,
            timeout=90,
            message=f"every side effect done; log:\n{stack.log()[-3000:]}",
        )
        # The daily rollup streams its rows (.iterator(), here without a server-side
        # cursor): sent to a worker as beat sends it, from a shell of the stack's
        # environment (its broker; not this process's app, whose connection other tests
        # switch).
        # Today and yesterday, as beat runs it: the orders are counted wherever midnight
        # fell (a run at 23:59 did).
        send = "from analytics_app.tasks import rollup_daily_summary as r; r.delay(2)"
        sent = python_run("manage.py", "shell", "-c", send, env=env)
        assert sent.returncode == 0, sent.stderr
        wait_until(
            lambda: DailySummary.objects.aggregate(n=Sum("side_effect_lag_orders"))["n"] == ORDERS,
            timeout=60,
            message=f"the rollup; log:\n{stack.log()[-3000:]}",
        )

    subjects = Counter(m["Subject"] for m in smtp_server.messages)
    assert {subjects[f"Your Shopflow order #{order_id}"] for order_id in order_ids} == {1}
    # The processes held many connections to PgBouncer, which used at most its pool's.
    assert watch.clients > POOL_SIZE
    assert 0 < watch.servers <= POOL_SIZE
