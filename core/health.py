"""GET /healthz, the operator's page (probes ask /livez and /readyz: core.probes): 200 when
the database and the broker answer, else 503 naming what is down. Anonymous by design: host
names and error text go to the log, not to the caller."""

import logging

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from kombu import Connection

from .api import json_get_only

logger = logging.getLogger(__name__)


def database_check() -> None:
    """Raises unless the database answers (a statement, not just a connection)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _broker() -> None:
    with Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=2,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        channel = conn.default_channel
        if hasattr(channel, "client"):  # Redis: a TCP connect is not an answer, ask it.
            channel.client.ping()


CHECKS = {"database": database_check, "broker": _broker}


@json_get_only
def healthz(request):
    down = []
    for name, check in CHECKS.items():
        try:
            check()
        except Exception:
            logger.warning("healthz: %s is down", name, exc_info=True)
            down.append(name)
    states = {name: "down" if name in down else "ok" for name in CHECKS}
    body = {"status": "unavailable" if down else "ok", "checks": states}
    if down:
        body["detail"] = f"Down: {', '.join(down)}."
    return JsonResponse(body, status=503 if down else 200)
