"""`manage.py wait_for_migrations`: wait until the database has every migration of this
release, then exit 0; exit 1 with one line after --timeout seconds. A release's pods run
it before they start (kubernetes/shopflow.yaml's init containers), so no pod of a new
release serves on a schema that its migration Job has not brought up yet."""

import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

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
