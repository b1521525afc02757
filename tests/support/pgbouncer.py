"""Debian's PgBouncer in transaction pooling mode, in front of this test's PostgreSQL: a
process of the test's own, on a port of its own, and what its admin console shows."""

import os
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


class PgBouncer:
    """`pgbouncer` in the foreground; as root it switches to postgres (it refuses root)."""

    def __init__(self, *, pool_size: int):
        self.pool_size = pool_size
        self.port = free_port()
        # Readable by the user it switches to: pytest's tmp_path is root's alone.
        self.dir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.dir.chmod(0o755)
        self.process: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    @property
    def user(self) -> str:
        return connection.settings_dict["USER"] or "postgres"

    def start(self) -> "PgBouncer":
        conf = connection.settings_dict
        (self.dir / "users.txt").write_text(f'"{self.user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            CONFIG.format(
                host=conf["HOST"] or "127.0.0.1",
                port=conf["PORT"] or 5432,
                listen_port=self.port,
                users=self.dir / "users.txt",
                user=self.user,
                pool_size=self.pool_size,
            )
        )
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

    def output(self) -> str:
        return (self.dir / "pgbouncer.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
