from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save, pre_save


class StoreConfig(AppConfig):
    name = "store"
    verbose_name = "Store"

    def ready(self):
        from . import receivers
        from .models import Order, Product
        from .signals import order_created

        post_save.connect(
            receivers.create_customer_for_new_user,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="store.create_customer_for_new_user",
        )
        order_created.connect(
            receivers.queue_inventory_update, dispatch_uid="store.queue_inventory_update"
        )
        pre_save.connect(
            receivers.flag_duplicate_order, sender=Order, dispatch_uid="store.flag_duplicate_order"
        )
        pre_save.connect(
            receivers.remember_price_change,
            sender=Product,
            dispatch_uid="store.remember_price_change",
        )
        post_save.connect(
            receivers.record_price_change, sender=Product, dispatch_uid="store.record_price_change"
        )
