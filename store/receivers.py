from decimal import Decimal, InvalidOperation

from worker.outbox import enqueue

from . import selectors, services


def create_customer_for_new_user(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        services.customer_create(user=instance)


def queue_inventory_update(sender, order, **kwargs):
    from .tasks import apply_order_inventory

    enqueue(apply_order_inventory, order.pk)


def flag_duplicate_order(sender, instance, raw=False, **kwargs):
    """pre_save of a new Order, inside the checkout's transaction: does it repeat one the
    customer placed minutes ago? It is placed anyway; the flag is for staff."""
    if raw or instance.pk is not None or instance.duplicate_of_id is not None:
        return
    instance.duplicate_of_id = services.order_duplicate_of(order=instance)


def remember_price_change(
    sender, instance, raw=False, update_fields=None, using="default", **kwargs
):
    """pre_save of a Product: note a real change of its price for post_save to record
    (recorded after the row is written, so a save that fails records nothing)."""
    instance.__dict__.pop("_price_change", None)
    if raw or instance.pk is None or (update_fields is not None and "price" not in update_fields):
        return
    try:
        new_price = Decimal(str(instance.price))
    except (InvalidOperation, TypeError, ValueError):
        return  # the save refuses it (DecimalField); there is no change to record
    old_price = selectors.product_price(product_id=instance.pk, using=using)
    if old_price is not None and old_price != new_price:
        instance.__dict__["_price_change"] = (old_price, new_price)


def record_price_change(sender, instance, created, raw=False, **kwargs):
    change = instance.__dict__.pop("_price_change", None)
    if change and not raw:
        services.price_change_record(product=instance, old_price=change[0], new_price=change[1])
