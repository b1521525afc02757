"""Debian's PgBouncer in transaction pooling mode, in front of this test's PostgreSQL: a
process of the test's own, on a port of its own, configured as the tests need or as
kubernetes/overlays/pgbouncer ships it, and what its admin console shows; the bounds on
every wait set on the role, as production sets them behind it."""

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from django.db import connection

from devstack.stack import free_port
from tests.support.polling import wait_until
from tests.support.processes import database_url

CONFIG = """\
[databases]
* = host={host} port={port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
admin_users = {user}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 200
ignore_startup_parameters = extra_float_digits
"""


# Few, so that a test's many processes share them, as production's do.
POOL_SIZE = 3
SERVER_STATES = ("active", "idle", "used", "tested", "login")


@dataclass
class Pool:
    clients: int  # client connections, active or waiting
    servers: int  # server connections to PostgreSQL, whatever their state


def shipped_config(ini: str, *, database: str, **settings) -> str:
    """A shipped pgbouncer.ini with its wildcard database's address and `settings` (in
    [pgbouncer]) replaced or added: the test's addresses and paths, the rest as shipped."""
    text = re.sub(r"(?m)^\* = .*$", f"* = {database}", ini)
    for key, value in settings.items():
        line = f"{key} = {value}"
        text, found = re.subn(rf"(?m)^{key} = .*$", line, text)
        if not found:
            text = text.replace("[pgbouncer]\n", f"[pgbouncer]\n{line}\n")
    return text


@contextlib.contextmanager
def bounds_on_the_role(bounds_ms: dict[str, int]):
    """The server's bounds set as production sets them behind PgBouncer: on the role, in
    this test's database (ALTER ROLE ... IN DATABASE ... SET), committed at once; reset
    after."""
    role = connection.ops.quote_name(connection.settings_dict["USER"] or "postgres")
    database = connection.ops.quote_name(connection.settings_dict["NAME"])
    with psycopg.connect(database_url(), autocommit=True) as admin:
        for name, ms in bounds_ms.items():
            admin.execute(f"ALTER ROLE {role} IN DATABASE {database} SET {name} = {int(ms)}")
        try:
            yield bounds_ms
        finally:
            admin.execute(f"ALTER ROLE {role} IN DATABASE {database} RESET ALL")


class PgBouncer:
    """`pgbouncer` in the foreground; as root it switches to postgres (it refuses root).
    `shipped`: a pgbouncer.ini as deployed, run with this test's addresses and a password
    (it asks one: SCRAM); else the tests' own configuration (trust)."""

    def __init__(self, *, pool_size: int, shipped: str = ""):
        self.pool_size = pool_size
        self.shipped = shipped
        self.password = secrets.token_urlsafe(16) if shipped else ""
        self.port = free_port()
        # Readable by the user it switches to: pytest's tmp_path is root's alone.
        self.dir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.dir.chmod(0o755)
        self.process: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        auth = f"{self.user}:{self.password}" if self.password else self.user
        return f"postgres://{auth}@127.0.0.1:{self.port}/{database}"

    @property
    def user(self) -> str:
        return connection.settings_dict["USER"] or "postgres"

    def start(self) -> "PgBouncer":
        conf = connection.settings_dict
        host, port = conf["HOST"] or "127.0.0.1", conf["PORT"] or 5432
        (self.dir / "users.txt").write_text(f'"{self.user}" "{self.password}"\n')
        users = self.dir / "users.txt"
        config = CONFIG.format(
            host=host,
            port=port,
            listen_port=self.port,
            users=users,
            user=self.user,
            pool_size=self.pool_size,
        )
        if self.shipped:
            config = shipped_config(
                self.shipped,
                database=f"host={host} port={port}",
                listen_addr="127.0.0.1",
                listen_port=self.port,
                auth_file=users,
                admin_users=self.user,
            )
        (self.dir / "pgbouncer.ini").write_text(config)
        for path in self.dir.iterdir():
            path.chmod(0o644)
        switch = ["-u", "postgres"] if os.geteuid() == 0 else []
        self.log = open(self.dir / "pgbouncer.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [shutil.which("pgbouncer"), *switch, str(self.dir / "pgbouncer.ini")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._answers, timeout=10, message=f"PgBouncer on {self.port}")
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"pgbouncer exited:\n{self.output()}")
        try:
            self.pools()
        except psycopg.OperationalError:
            return False
        return True

    def pools(self) -> dict[str, Pool]:
        """SHOW POOLS, by database (the admin console's own "pgbouncer" left out)."""
        with psycopg.connect(self.url("pgbouncer"), autocommit=True, connect_timeout=2) as admin:
            shown = admin.execute("SHOW POOLS")
            names = [column.name for column in shown.description]
            rows = shown.fetchall()
        found = {}
        for row in rows:
            pool = dict(zip(names, row, strict=True))
            if pool["database"] != "pgbouncer":
                clients = pool["cl_active"] + pool["cl_waiting"]
                servers = sum(pool[f"sv_{state}"] for state in SERVER_STATES)
                found[pool["database"]] = Pool(clients=clients, servers=servers)
        return found

    def reconnect(self) -> None:
        """RECONNECT on the admin console: each server connection is closed once released,
        so the next ones start the role's settings as they are now."""
        with psycopg.connect(self.url("pgbouncer"), autocommit=True, connect_timeout=2) as admin:
            admin.execute("RECONNECT")

    def output(self) -> str:
        return (self.dir / "pgbouncer.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
