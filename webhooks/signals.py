from django.dispatch import Signal

# Sent when a delivery fails for good (its attempts ran out, or its task died) or an
# endpoint is disabled by the shop (410 Gone, 5 days of failures), in the transaction
# that records it, with core.signals.send_robust_isolated. Arguments: endpoint_id, url,
# delivery_id ("" when the endpoint is disabled), reason.
webhook_failed = Signal()
