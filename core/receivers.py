import logging

audit_logger = logging.getLogger("shopflow.audit")


def audit_order_created(sender, order, **kwargs):
    """Synchronous on purpose: one log line, no I/O worth a task."""
    audit_logger.info(
        "order_created order=%s customer=%s total=%s", order.pk, order.customer_id, order.total
    )
