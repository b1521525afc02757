from django.apps import AppConfig
from django.core.signals import request_finished, request_started


class CoreConfig(AppConfig):
    """Installed for its base template and its commands; it has no models."""

    name = "core"
    verbose_name = "Shopflow core"

    def ready(self):
        from . import after_response
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
