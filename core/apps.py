from django.apps import AppConfig
from django.core.signals import request_finished, request_started
from django.db import close_old_connections


class CoreConfig(AppConfig):
    """Installed for its migrations (the history of models that moved to their apps) and
    its base template; it has no models."""

    name = "core"
    verbose_name = "Shopflow core"

    def ready(self):
        from . import after_response, checks  # noqa: F401 (checks register)
        from .telemetry import trace_ids_in_logs

        # Here, not in telemetry_start: the formats name the trace with telemetry off too, and
        # every process sets Django up (Celery's worker and beat before their log handlers;
        # a pool process inherits it), where a prefork parent never starts telemetry.
        trace_ids_in_logs()

        request_started.connect(
            after_response.request_began, dispatch_uid="core.after_response.request_began"
        )
        request_finished.connect(
            after_response.response_sent, dispatch_uid="core.after_response.response_sent"
        )
        # What runs after the response may use the request's database connection (the
        # outbox marks what it published): Django's own request_finished receiver, which may
        # close that connection, goes after it (receivers run in the order connected).
        # No dispatch_uid: connected as Django connects it, which the test client counts on
        # (it disconnects and reconnects this receiver around each request it makes).
        request_finished.disconnect(close_old_connections)
        request_finished.connect(close_old_connections)
