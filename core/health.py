"""GET /healthz: 200 when the database and the broker answer, 503 naming what is down,
and the number of side effects pending past their deadline.

Anonymous by design (load balancers call it), so it names the part that is down and
nothing more: host names and error text go to the log, not to the caller."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _broker() -> None:
    from worker.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        channel = conn.default_channel
        if hasattr(channel, "client"):  # Redis: a TCP connect is not an answer, ask it.
            channel.client.ping()


CHECKS = {"database": _database, "broker": _broker}


@csrf_exempt  # GET only: a POST is answered 405 below, not with a CSRF page
def healthz(request):
    if request.method not in ("GET", "HEAD"):
        return JsonResponse(
            {"detail": "Method not allowed."}, status=405, headers={"Allow": "GET, HEAD"}
        )
    states = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception:
            logger.warning("healthz: %s is down", name, exc_info=True)
            states[name] = "down"
        else:
            states[name] = "ok"
    down = [name for name, state in states.items() if state == "down"]
    body = {"status": "unavailable" if down else "ok", "checks": states}
    if down:
        body["detail"] = f"Down: {', '.join(down)}."
    if "database" not in down:
        # Reported, not a reason to take the web tier out of a load balancer: the
        # reconciler re-drives these; a number that keeps growing needs a person.
        from store.selectors import side_effects_stuck_count

        try:
            body["side_effects_past_deadline"] = side_effects_stuck_count()
        except Exception:
            logger.warning("healthz: could not count side effects", exc_info=True)
    return JsonResponse(body, status=503 if down else 200)
