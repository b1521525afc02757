from django.dispatch import Signal

# Sent when one of an order's side effects is marked failed for good (its task's retries
# ran out, or the reconciler gave up on it), in the transaction that marks it, with
# core.signals.send_robust_isolated. Arguments: order_id, kind, error.
side_effect_failed = Signal()
