"""The database, from DATABASE_URL (SQLite by default, PostgreSQL in production), and the
bounds on every wait on PostgreSQL (docs/operations.md, "Bounds")."""

import os
from pathlib import Path

import dj_database_url

from core.env import env_bool, env_int, refuse


def database_settings(base_dir: Path, *, bounds_ms: dict[str, int]) -> dict:
    """DATABASES, as the environment describes it; PostgreSQL's sessions carry `bounds_ms`
    (server_bounds_ms) unless pooled."""
    default = dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{base_dir / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
    # Behind PgBouncer in transaction pooling mode (docs/operations.md), each transaction
    # may run on another server connection: no server-side cursor (.iterator() would hold
    # one open across transactions); Django's client-side binding prepares no statement.
    pooled = env_bool("DATABASE_TRANSACTION_POOLING", False)
    default["DISABLE_SERVER_SIDE_CURSORS"] = pooled
    if default["ENGINE"] == "django.db.backends.sqlite3":
        # Web, worker and beat share one file: WAL lets readers run beside a writer, and
        # IMMEDIATE transactions take the write lock up front instead of failing mid-way.
        default["CONN_MAX_AGE"] = 0
        default["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    else:
        # libpq's options and, unless pooled, the server's bounds as the session's `options`
        # (docs/operations.md, "Bounds"; behind PgBouncer, set on the role).
        options = {
            "connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 5),
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 2,
            "tcp_user_timeout": env_int("DATABASE_TCP_USER_TIMEOUT", 20) * 1000,
        }
        if not pooled:
            options["options"] = " ".join(f"-c {k}={ms}" for k, ms in bounds_ms.items())
            # Parameters bound by the server, and a statement run 5 times on a connection
            # prepared there (psycopg's prepare_threshold): PostgreSQL parses and plans the
            # side effects' and checkout's few statements once a connection, not each time.
            # A pooler in transaction mode would not keep a session's prepared statements.
            options.update(server_side_binding=True, prepare_threshold=5)
        default.setdefault("OPTIONS", {}).update(options)
    return {"default": default}


def server_bounds_ms() -> dict[str, int]:
    """What PostgreSQL ends, for each session (0 turns one off); a lock waits longer than a
    transaction may idle (docs/operations.md, "Bounds": why)."""
    bounds = {
        "statement_timeout": env_int("DATABASE_STATEMENT_TIMEOUT", 20) * 1000,
        "lock_timeout": env_int("DATABASE_LOCK_TIMEOUT", 15) * 1000,
        "idle_in_transaction_session_timeout": (
            env_int("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", 10) * 1000
        ),
    }
    lock, idle = bounds["lock_timeout"], bounds["idle_in_transaction_session_timeout"]
    if idle and 0 < lock <= idle:
        refuse(
            "DATABASE_LOCK_TIMEOUT",
            str(lock // 1000),
            f"longer than DATABASE_IDLE_IN_TRANSACTION_TIMEOUT ({idle // 1000} s), or 0",
        )
    return bounds
