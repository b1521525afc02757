from django.apps import AppConfig


class NaiveShopConfig(AppConfig):
    name = "naiveshop"

    def ready(self):
        from . import receivers  # noqa: F401 - connects them
