"""Every row lock the accounts app takes: named querysets for the caller's transaction."""

from django.db.models import QuerySet

from .models import LoginGate


def login_gate_for_update(*, key: str) -> QuerySet[LoginGate]:
    """The gate of an attempt (its username's), locked for one look at its lease: when it
    is held until (None: free)."""
    return LoginGate.objects.select_for_update().filter(pk=key).values_list("held_until", flat=True)
