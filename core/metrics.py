"""GET /metrics: the Prometheus text format, behind the ops credentials. Events are counted
in the processes that see them, states read from the database at scrape time by the
collectors the apps register (docs/monitoring.md). Importing this module imports no app."""

import base64
import hmac
import logging
import os
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.http import HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)

from .api import json_get_only

logger = logging.getLogger(__name__)

COLLECTOR_ERRORS = Counter(
    "shopflow_metrics_collector_errors",
    "Scrapes at which a collector of database state failed (its series were missing).",
    ["collector"],
)
# The apps' collectors of database state, read at each scrape.
DATABASE_STATE = CollectorRegistry(auto_describe=False)


def add_collector(collector) -> None:
    """Register a collector (an object with `collect()` yielding metric families) that
    reads state at scrape time; an app's ready() calls this. A collector that raises is
    logged and counted in shopflow_metrics_collector_errors; the others still answer."""
    DATABASE_STATE.register(_Guarded(collector))


# Seconds a caller must wait before trying credentials again, or None: set by the app
# that keeps the login throttle (accounts), so that /metrics is no way around it.
login_retry_after: Callable[..., int | None] | None = None


def set_login_throttle(retry_after: Callable[..., int | None]) -> None:
    global login_retry_after
    login_retry_after = retry_after


class _Guarded:
    def __init__(self, collector):
        self.collector = collector
        self.name = type(collector).__name__

    def collect(self):
        try:
            return list(self.collector.collect())
        except Exception:
            logger.exception("metrics: the %s collector failed", self.name)
            COLLECTOR_ERRORS.labels(self.name).inc()
            return []


def ops_allowed(request) -> bool | int:
    """True for staff with a session, or HTTP basic auth with one of the FLOWER_BASIC_AUTH
    pairs; seconds to wait when the login throttle refuses the caller; else False (a
    wrong pair counts as a failed login, as on every login path)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not settings.SHOPFLOW_OPS_BASIC_AUTH:
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except ValueError:  # binascii.Error among them
        return False
    username = given.partition(b":")[0].decode(errors="replace")[:150]
    wait = login_retry_after(request=request, username=username) if login_retry_after else None
    if wait:
        return wait
    # Every pair is compared, so the time taken does not tell which one nearly matched.
    pairs = settings.SHOPFLOW_OPS_BASIC_AUTH
    if any([hmac.compare_digest(given, pair.encode()) for pair in pairs]):
        return True
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)
    return False


@json_get_only
def metrics_view(request):
    allowed = ops_allowed(request)
    if allowed is not True:
        if allowed:
            return JsonResponse(
                {"detail": f"Too many failed logins. Try again in {allowed} seconds."},
                status=429,
                headers={"Retry-After": str(allowed)},
            )
        return JsonResponse(
            {"detail": "Ops credentials (FLOWER_BASIC_AUTH, or a staff login) are required."},
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="Shopflow metrics"'},
        )
    # The classic text format (0.0.4), which every Prometheus version reads.
    try:  # every process's counts when they share a directory, else this process's own
        registry = REGISTRY
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        events = generate_latest(registry)
    except Exception:  # a process's file caught half-written, or the directory gone
        logger.exception("metrics: the processes' counts could not be read")
        COLLECTOR_ERRORS.labels("processes").inc()
        events = b""
    body = events + generate_latest(DATABASE_STATE)
    return HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
