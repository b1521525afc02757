"""Every row lock the accounts app takes: named querysets for the caller's transaction."""

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet

from core.clock import db_now

from .models import LoginGate


def login_gate_for_update(*, key: str) -> QuerySet[LoginGate]:
    """The gate of an attempt (its username's), locked for one look at its lease: whether
    another attempt holds it now, by the database's clock (core.clock)."""
    held = ExpressionWrapper(Q(held_until__gt=db_now()), output_field=BooleanField())
    return (
        LoginGate.objects.select_for_update()
        .filter(pk=key)
        .annotate(held=held)
        .values_list("held", flat=True)
    )
