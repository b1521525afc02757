"""The store's reactions: a customer for every new user, and an order's stock moved out of
stock on hand, in the request that placed it."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import Customer, Product, StockMovement


def create_customer(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        Customer.objects.create(user=instance)


def move_stock(sender, order, **kwargs):
    """A ledger row per item, and each product's reservation taken out of stock on hand,
    the products locked in primary-key order (as the checkout locks them)."""
    items = sorted(order.line_items, key=lambda item: item.product_id)
    with transaction.atomic():
        StockMovement.objects.bulk_create(
            [StockMovement(product_id=i.product_id, order_item=i, delta=-i.quantity) for i in items]
        )
        for item in items:
            Product.objects.filter(pk=item.product_id).update(
                on_hand=F("on_hand") - item.quantity,
                reserved=F("reserved") - item.quantity,
                updated_at=timezone.now(),
            )
