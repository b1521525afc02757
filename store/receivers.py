"""The store's own reactions: a customer for every new user, the inventory side effect of
an order and its audit line, duplicate orders flagged, the price history."""

import logging

from django.db import transaction

from .authentication import token_cache
from .services import customers, duplicates, prices


def create_customer_for_new_user(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        customers.customer_ensure(user=instance)


audit_logger = logging.getLogger("shopflow.audit")


def log_order_created(sender, order, **kwargs):
    """One audit line per order: synchronous, no I/O worth a task."""
    audit_logger.info(
        "order_created order=%s customer=%s total=%s", order.pk, order.customer_id, order.total
    )


def flag_duplicate_order(sender, instance, raw=False, **kwargs):
    """pre_save of a new Order, inside the checkout's transaction: does it repeat one the
    customer placed minutes ago? It is placed anyway; the flag is for staff."""
    if not raw and instance.pk is None and instance.duplicate_of_id is None:
        instance.duplicate_of_id = duplicates.order_duplicate_of(order=instance)


def record_price_change(sender, instance, raw=False, update_fields=None, using="default", **kwargs):
    """pre_save of a Product: record a real change of its price, in the save's transaction."""
    if not raw:
        prices.price_change_record_if_changed(
            product=instance, update_fields=update_fields, using=using
        )


def forget_cached_tokens(sender, **kwargs):
    """A token, a user or a customer changed or went: the tokens cached in this process
    (store.authentication) may hold an old copy. Now, and again once the change commits,
    in case a request cached the row as it was in between."""
    token_cache().clear()
    transaction.on_commit(token_cache().clear)
