"""Every row lock the accounts app takes: named querysets for the caller's transaction, in
primary-key order (so that attempts sharing a gate queue instead of deadlocking)."""

from django.db.models import QuerySet

from .models import LoginGate


def login_gates_for_update(*, keys) -> QuerySet[LoginGate]:
    """The gates of an attempt (its username's), locked in key order."""
    return (
        LoginGate.objects.select_for_update().filter(pk__in=keys).order_by("pk").values_list("pk")
    )
