"""`manage.py wait_for_migrations`, each pod's init container: it lets the pod start only
on a migrated database whose sessions carry the bounds on their waits."""

import pytest
from django.core.management import CommandError, call_command

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_a_migrated_database_whose_sessions_carry_the_bounds_lets_the_pod_start():
    call_command("wait_for_migrations", "--timeout", "5")


def test_sessions_without_the_configured_bounds_stop_the_pod_with_one_line(settings):
    """What a pod behind PgBouncer meets when the role lacks the bounds: the settings ask
    for a lock bound the sessions do not have."""
    settings.DATABASE_SESSION_BOUNDS_MS = {
        **settings.DATABASE_SESSION_BOUNDS_MS,
        "lock_timeout": 99_000,
    }

    with pytest.raises(CommandError) as refused:
        call_command("wait_for_migrations", "--timeout", "5")

    message = str(refused.value)
    assert "lock_timeout is 15000 ms, not 99000" in message
    assert "set them on the role" in message and "\n" not in message
