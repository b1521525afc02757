"""GET /metrics: the Prometheus text format, behind the ops credentials.

Two kinds of series. Events are counted in the process that sees them (requests in the
web processes, tasks and finished side effects in the workers) with prometheus-client's
metrics; with PROMETHEUS_MULTIPROC_DIR set (`make run`, docker-compose) every process
writes its own file there and a scrape sums them. States are read from the database at
scrape time by the collectors the apps register (`add_collector`): the outbox backlog,
side effects past their deadline, dead letters. Only Shopflow can export those.

Importing this module imports no app."""

import base64
import binascii
import hmac
import logging
import os
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

# Latency buckets for requests and tasks: a checkout takes milliseconds, an SMTP send
# can take seconds.
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter(
    "shopflow_http_requests",
    "HTTP requests answered, by view (URL name), method and status code.",
    ["view", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "shopflow_http_request_duration_seconds",
    "Time from the request reaching Django to its response (a stream: to its first byte).",
    ["view", "method"],
    buckets=SECONDS_BUCKETS,
)

# The apps' collectors of database state, read at each scrape.
DATABASE_STATE = CollectorRegistry(auto_describe=False)


def add_collector(collector) -> None:
    """Register a collector (an object with `collect()` yielding metric families) that
    reads state at scrape time; an app's ready() calls this. A collector that raises is
    logged and reported in shopflow_metrics_collector_errors, the others still answer."""
    DATABASE_STATE.register(_Guarded(collector))


class _Guarded:
    errors: dict[str, int] = {}

    def __init__(self, collector):
        self.collector = collector
        self.name = type(collector).__name__

    def collect(self):
        try:
            families = list(self.collector.collect())
        except Exception:
            logger.exception("metrics: the %s collector failed", self.name)
            families = []
            _Guarded.errors[self.name] = _Guarded.errors.get(self.name, 0) + 1
        errors = GaugeMetricFamily(
            "shopflow_metrics_collector_errors",
            "Scrapes at which a collector failed, since this web process started.",
            labels=["collector"],
        )
        errors.add_metric([self.name], _Guarded.errors.get(self.name, 0))
        return [*families, errors]


def view_label(request) -> str:
    """The URL's name (bounded, unlike paths with ids in them)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unnamed"


class RequestMetricsMiddleware:
    """Counts every response and times it, by view, for the synchronous and the async
    (stream) views alike."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        _observe(request, response, started)
        return response

    async def _acall(self, request):
        started = time.perf_counter()
        response = await self.get_response(request)
        _observe(request, response, started)
        return response


def _observe(request, response, started: float) -> None:
    view = view_label(request)
    REQUESTS.labels(view, request.method, str(response.status_code)).inc()
    REQUEST_SECONDS.labels(view, request.method).observe(time.perf_counter() - started)


def ops_allowed(request) -> bool:
    """Staff with a session, or HTTP basic auth with one of the FLOWER_BASIC_AUTH pairs."""
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not settings.SHOPFLOW_OPS_BASIC_AUTH:
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    # Every pair is compared, so the time taken does not tell which one nearly matched.
    pairs = settings.SHOPFLOW_OPS_BASIC_AUTH
    return any([hmac.compare_digest(given, pair.encode()) for pair in pairs])


@csrf_exempt  # GET only; anything else is 405 below
def metrics_view(request):
    if request.method not in ("GET", "HEAD"):
        return JsonResponse(
            {"detail": "Method not allowed."}, status=405, headers={"Allow": "GET, HEAD"}
        )
    if not ops_allowed(request):
        return JsonResponse(
            {"detail": "Ops credentials (FLOWER_BASIC_AUTH, or a staff login) are required."},
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="Shopflow metrics"'},
        )
    # The classic text format (0.0.4), which every Prometheus version reads.
    body = generate_latest(_events_registry()) + generate_latest(DATABASE_STATE)
    return HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)


def _events_registry():
    """Every process's counts when they share a directory, else this process's own."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY
