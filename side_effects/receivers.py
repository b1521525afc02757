from core.signals import send_robust_isolated

from . import registry
from .signals import side_effect_failed


def tell_side_effect_failed(sender, kind, key, error, **kwargs):
    """job_failed of a side effect's kind: side_effect_failed, naming the order, in the
    transaction that records the failure."""
    if kind in registry.kinds():
        send_robust_isolated(
            side_effect_failed,
            sender=sender,
            about=f"side effect {kind} of order {key} failed",
            order_id=int(key),
            kind=kind,
            error=error,
        )
