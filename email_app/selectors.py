"""Reads of email_app: which emails went out."""

from .models import SentEmail


def emails_sent(*, kind: str, keys) -> set[str]:
    """Those of `keys` whose email of `kind` was sent (not those still being sent)."""
    return set(
        SentEmail.objects.filter(
            kind=kind, key__in=list(keys), status=SentEmail.Status.SENT
        ).values_list("key", flat=True)
    )
