from django.dispatch import Signal

# Sent when one of an order's side effects fails for good (its job's last attempt), in the
# transaction that records it, with core.signals.send_robust_isolated. Arguments:
# order_id, kind, error.
side_effect_failed = Signal()
