"""`manage.py wait_for_migrations`: wait until the database has every migration of this
release, then exit 0; exit 1 with one line after --timeout seconds, or at once when the
database's sessions lack the bounds on their waits (DATABASE_SESSION_BOUNDS_MS). A pod's
init container runs it (docs/deploy.md, "A release"; docs/operations.md, "Bounds")."""

import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections, connection

from core.sql import session_settings

POLL_SECONDS = 2.0


class Command(BaseCommand):
    help = "Wait until every migration of this release is applied (exit 1 after --timeout)."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds (600)")

    def handle(self, *args, timeout: float, **options):
        deadline = time.monotonic() + timeout
        while True:
            waiting_for = migrations_pending()
            if not waiting_for:
                if unbounded := session_bounds_unset():
                    raise CommandError(unbounded)
                return
            if time.monotonic() >= deadline:
                raise CommandError(f"Gave up after {timeout:.0f} s: {waiting_for}.")
            time.sleep(POLL_SECONDS)


def migrations_pending() -> str:
    """ "" when every migration is applied, else what is still awaited."""
    try:
        call_command("migrate", check_unapplied=True, verbosity=0)
    except SystemExit:  # migrate --check's way of saying some are unapplied
        return "migrations not yet applied (run this release's migrate Job)"
    except DatabaseError as error:
        close_old_connections()
        return f"the database does not answer ({str(error).strip().splitlines()[0]})"
    return ""


def session_bounds_unset() -> str:
    """ "" when this process's database sessions carry the bounds the settings ask for,
    else one line naming those they do not."""
    wanted = getattr(settings, "DATABASE_SESSION_BOUNDS_MS", {})
    if connection.vendor != "postgresql" or not wanted:
        return ""
    found = session_settings(names=list(wanted))
    wrong = [
        f"{name} is {found.get(name)} ms, not {ms}"
        for name, ms in wanted.items()
        if str(ms) != found.get(name)
    ]
    if not wrong:
        return ""
    where = "set them on the role (docs/operations.md, Bounds)"
    return f"The database's sessions are not bounded as configured: {'; '.join(wrong)}; {where}."
