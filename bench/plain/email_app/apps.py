from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


class EmailAppConfig(AppConfig):
    name = "bench.plain.email_app"
    label = "email_app"

    def ready(self):
        from bench.plain.store.signals import order_created

        from . import receivers

        order_created.connect(
            receivers.send_confirmation, dispatch_uid="plain.email_app.send_confirmation"
        )
        post_save.connect(
            receivers.send_welcome,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="plain.email_app.send_welcome",
        )
