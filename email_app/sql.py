"""The statement of sent emails the ORM cannot say: an INSERT that skips the emails whose
(kind, key) has a row already and tells which it inserted (INSERT ... ON CONFLICT DO
NOTHING RETURNING), so that a delivery claims a batch's emails in one round trip. The
ORM's bulk_create(ignore_conflicts=True) does the insert but cannot tell which rows it
skipped.

tests/email_app/test_sql.py checks it against the ORM's equivalent (that bulk_create, then
a read) on SQLite and on PostgreSQL."""

import uuid

from django.db import connection

from .models import SentEmail

FIELDS = ("kind", "key", "recipients", "subject", "status", "claim")
# The database's now, as the ORM's Now() writes it (core.clock: hosts compare claims).
NOW = {"sqlite": "STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW')"}


def sent_emails_claim(*, rows: list[SentEmail]) -> set[uuid.UUID]:
    """Insert these unsaved rows, claimed now by the database's clock, except those whose
    (kind, key) has a row already (or comes twice: the first is inserted); the claims of
    the rows inserted."""
    if not rows:
        return set()
    meta, quote = SentEmail._meta, connection.ops.quote_name
    fields = [meta.get_field(name) for name in FIELDS]
    claim_field = meta.get_field("claim")
    kind, key, claimed_at = (
        quote(meta.get_field(name).column) for name in ("kind", "key", "claimed_at")
    )
    columns = ", ".join([*(quote(field.column) for field in fields), claimed_at])
    now = NOW.get(connection.vendor, "STATEMENT_TIMESTAMP()")
    one_row = f"({', '.join(['%s'] * len(fields))}, {now})"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {', '.join([one_row] * len(rows))}"
        f" ON CONFLICT ({kind}, {key}) DO NOTHING RETURNING {quote(claim_field.column)}"
    )
    values = [
        field.get_db_prep_save(getattr(row, field.attname), connection)
        for row in rows
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return {claim_field.to_python(value) for (value,) in cursor.fetchall()}
