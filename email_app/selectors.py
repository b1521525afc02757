"""Reads of email_app: which emails went out."""

from .models import SentEmail


def emails_sent(*, kind: str, keys) -> set[str]:
    """Those of `keys` whose email of `kind` was sent."""
    return set(
        SentEmail.objects.filter(kind=kind, key__in=list(keys)).values_list("key", flat=True)
    )
