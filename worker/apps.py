from django.apps import AppConfig
from django.core.signals import request_finished, request_started
from django.db import close_old_connections


class WorkerConfig(AppConfig):
    name = "worker"
    verbose_name = "Worker: outbox and dead letters"

    def ready(self):
        from . import receivers

        request_started.connect(
            receivers.hold_publishing_until_response,
            dispatch_uid="worker.hold_publishing_until_response",
        )
        request_finished.connect(
            receivers.publish_after_response, dispatch_uid="worker.publish_after_response"
        )
        # The publish marks its rows on the request's database connection: Django's own
        # request_finished receiver, which may close that connection, goes after it
        # (receivers run in the order they were connected).
        request_finished.disconnect(close_old_connections)
        request_finished.connect(close_old_connections)
