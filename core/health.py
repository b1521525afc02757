"""GET /healthz: 200 when the database and the broker answer, 503 naming what is down."""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET


def _database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _broker() -> str | None:
    from worker.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            channel = conn.default_channel
            if hasattr(channel, "client"):  # Redis: a TCP connect is not an answer, ask it.
                channel.client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@require_GET
def healthz(request):
    checks = {"database": _database(), "broker": _broker()}
    down = sorted(name for name, error in checks.items() if error)
    body = {
        "status": "ok" if not down else "unavailable",
        "checks": {
            name: ("ok" if error is None else f"down: {error}") for name, error in checks.items()
        },
    }
    if down:
        body["detail"] = f"Down: {', '.join(down)}."
    return JsonResponse(body, status=503 if down else 200)
