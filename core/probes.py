"""GET /livez and GET /readyz (docs/operations.md, "Health"), and Prometheus' scrape of
/metrics with its basic auth: they come by the pod's address, over plain HTTP, so the first
middleware answers them before any Host check, HTTPS redirect, session or metrics count.
/readyz asks the database, never the broker: a checkout writes jobs, not messages, and
works without it."""

import logging

from asgiref.sync import iscoroutinefunction
from django.core.exceptions import MiddlewareNotUsed
from django.http import JsonResponse
from django.utils.decorators import sync_and_async_middleware

from .api import json_get_only
from .health import database_check
from .metrics import metrics_view

logger = logging.getLogger(__name__)

# Under gunicorn's uvicorn workers config.asgi answers it on the event loop, before the
# threads; this module answers it for any other server.
LIVENESS_PATH = "/livez"


@json_get_only
def live(request) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@json_get_only
def ready(request) -> JsonResponse:
    try:
        database_check()
    except Exception:
        logger.warning("readyz: the database does not answer", exc_info=True)
        return JsonResponse({"status": "unavailable", "detail": "Down: database."}, status=503)
    return JsonResponse({"status": "ok"})


PROBES = {LIVENESS_PATH: live, "/readyz": ready}


def answer(request):
    """The probe's answer, or None when the request is no probe."""
    basic_auth = request.headers.get("Authorization", "").lower().startswith("basic ")
    if request.path_info == "/metrics" and basic_auth:
        return metrics_view(request)  # its own credentials check, throttle and methods
    probe = PROBES.get(request.path_info)
    return None if probe is None else probe(request)  # GET and HEAD only, as json_get_only


@sync_and_async_middleware
def probes_middleware(get_response):
    """Answers the probes (see the module) and passes every other request on."""
    if iscoroutinefunction(get_response):
        # Django's async chain serves only the async views (the streams: config.asgi sends
        # every other path, the probes and /metrics with them, to the threads): it goes
        # without this middleware rather than pay a hop to the threads for it.
        raise MiddlewareNotUsed

    def middleware(request):
        response = answer(request)
        return get_response(request) if response is None else response

    return middleware
