"""GET /livez and GET /readyz: the probes of an orchestrator (the kubelet, compose's
healthcheck), answered by the first middleware, before anything else a request does; and
Prometheus' scrape of /metrics with its basic auth, which also comes by the pod's address.

A probe comes by the pod's address (`Host: 10.1.2.3:8000`), over plain HTTP, with the
prober's own headers: answered here, it meets no ALLOWED_HOSTS check, no HTTPS redirect,
no session and no metrics count, and costs one statement at most.

- /livez: 200 while the process serves requests. It asks nothing else: a database or a
  broker that is down is no reason to restart the web.
- /readyz: 200 while this process can do its job, else 503 naming what is missing. For
  the web that is the database. Never the broker: the outbox keeps checkouts working while
  it is down (docs/reliability.md), and a probe that failed on it would take every web
  process out of service for nothing.

/healthz stays the operator's page: every dependency.
/metrics with a staff session (a person's browser) takes the usual way, Host check and all."""

import logging

from asgiref.sync import iscoroutinefunction
from django.core.exceptions import MiddlewareNotUsed
from django.http import JsonResponse
from django.utils.decorators import sync_and_async_middleware

from .health import database_check
from .metrics import metrics_view

logger = logging.getLogger(__name__)

PROBE_METHODS = {"GET", "HEAD"}
# Under gunicorn's uvicorn workers config.asgi answers it on the event loop, before the
# threads; this module answers it for any other server.
LIVENESS_PATH = "/livez"


def live(request) -> JsonResponse:
    return JsonResponse({"status": "ok"})


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
    if probe is None:
        return None
    if request.method not in PROBE_METHODS:
        return JsonResponse(
            {"detail": f'Method "{request.method}" not allowed.'},
            status=405,
            headers={"Allow": ", ".join(sorted(PROBE_METHODS))},
        )
    return probe(request)


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
