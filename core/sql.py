"""The statements the ORM cannot say, of core: a read of the server's own settings."""

from django.db import connection


def session_settings(*, names: list[str]) -> dict[str, str]:
    """{name: value, in the setting's unit} of these PostgreSQL settings, as this
    connection's session has them (the role's, the database's or the connection's own)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [names])
        return dict(cursor.fetchall())
