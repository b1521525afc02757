from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Shopflow core"

    def ready(self):
        from store.signals import order_created

        from . import receivers

        order_created.connect(
            receivers.audit_order_created, dispatch_uid="core.audit_order_created"
        )
