from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


class StoreConfig(AppConfig):
    # Shopflow's label, so its tables have Shopflow's names (store_product, ...).
    name = "bench.plain.store"
    label = "store"

    def ready(self):
        from . import receivers
        from .signals import order_created

        post_save.connect(
            receivers.create_customer,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="plain.store.create_customer",
        )
        order_created.connect(receivers.move_stock, dispatch_uid="plain.store.move_stock")
