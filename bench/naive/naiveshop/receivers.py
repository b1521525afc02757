"""Three receivers, one per side effect, each queuing its task once the order commits."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from . import tasks
from .models import Order


@receiver(post_save, sender=Order, dispatch_uid="naive_confirmation_email")
def send_confirmation(sender, instance, created, **kwargs):
    if created:
        transaction.on_commit(lambda: tasks.send_confirmation.delay(instance.pk))


@receiver(post_save, sender=Order, dispatch_uid="naive_inventory")
def update_inventory(sender, instance, created, **kwargs):
    if created:
        transaction.on_commit(lambda: tasks.update_inventory.delay(instance.pk))


@receiver(post_save, sender=Order, dispatch_uid="naive_analytics")
def record_analytics(sender, instance, created, **kwargs):
    if created:
        transaction.on_commit(lambda: tasks.record_analytics.delay(instance.pk))
