from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_delete, post_save, pre_save


class StoreConfig(AppConfig):
    name = "store"
    verbose_name = "Store"

    def ready(self):
        from rest_framework.authtoken.models import Token

        from side_effects import registry
        from worker.schedule import schedule_task

        from . import receivers, tasks
        from .models import Customer, Order, Product
        from .services import duplicates
        from .signals import order_created

        registry.register(tasks.apply_inventory)
        registry.register(tasks.release_stock, on=Order.Status.CANCELLED)
        post_save.connect(
            receivers.create_customer_for_new_user,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="store.create_customer_for_new_user",
        )
        order_created.connect(receivers.log_order_created, dispatch_uid="store.log_order_created")
        pre_save.connect(
            receivers.flag_duplicate_order, sender=Order, dispatch_uid="store.flag_duplicate_order"
        )
        pre_save.connect(
            receivers.record_price_change, sender=Product, dispatch_uid="store.record_price_change"
        )
        # A token, a user or a customer saved or deleted empties the token cache (one
        # dispatch_uid: a receiver's key is its uid with its sender).
        uid = "store.forget_cached_tokens"
        for model in (Token, settings.AUTH_USER_MODEL, Customer):
            for signal in (post_save, post_delete):
                signal.connect(receivers.forget_cached_tokens, sender=model, dispatch_uid=uid)
        schedule_task(
            "abandoned carts cleanup",
            tasks.remove_abandoned_carts,
            crontab={"minute": "0", "hour": "3"},
            expire_seconds=3600,
        )
        window = duplicates.alert_window_seconds()
        schedule_task(
            "duplicate order alerts",
            tasks.alert_duplicate_orders,
            every_seconds=window,  # no expiry: a late run alerts as well (worker.schedule)
        )
