"""GET /metrics with 10,000 orders in the database: in-process (Django's test client, the
ops credentials) on a throwaway test database and a real Redis broker, in multiprocess
mode as `make run` and compose run it (a directory of counts, which the checkouts and
requests made here fill). Orders as a shop has them after a while: almost all side
effects done, some pending, a few failed or past their deadline, a published outbox.
Prints one JSON line: the scrape's p50 and p95 in ms (HdrHistogram's, bench/percentiles.py)
and the number of series.
"""

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_DEBUG", "1")  # development settings, as the test suite uses
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["FLOWER_BASIC_AUTH"] = "bench:metrics"  # the pair the scrapes send

ORDERS = 10_000
SCRAPES = 40


def main() -> None:
    import tempfile

    # Before prometheus-client is imported (by Django's setup): it reads this once.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="shopflow-metrics-")
    from devstack.stack import redis_answers

    broker = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    if not redis_answers(broker):
        from tests.support.brokers import RedisServer

        broker = RedisServer().start().url
    os.environ["CELERY_BROKER_URL"] = broker

    import logging

    import django

    django.setup()
    logging.disable(logging.WARNING)
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    setup_test_environment()
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        fill()
        print(json.dumps(scrape_times()))
    finally:
        teardown_databases(old_config, verbosity=0)


def fill() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from side_effects.models import OrderSideEffect
    from side_effects.registry import kinds
    from store.models import Order
    from tests.factories import UserFactory
    from worker.models import OutboxMessage

    customer = UserFactory().customer
    now = timezone.now()
    orders = Order.objects.bulk_create(
        [Order(customer=customer, total=10) for _ in range(ORDERS)], batch_size=2000
    )
    effects, messages = [], []
    for n, order in enumerate(orders):
        for kind in kinds():
            status = "pending" if n % 200 == 0 else "failed" if n % 2000 == 1 else "done"
            deadline = now - timedelta(minutes=1) if n % 1000 == 0 else now + timedelta(minutes=5)
            effects.append(
                OrderSideEffect(order=order, kind=kind, status=status, deadline=deadline)
            )
            published = None if n % 500 == 0 else now
            messages.append(OutboxMessage(task_name=kind, args=[order.pk], published_at=published))
    OrderSideEffect.objects.bulk_create(effects, batch_size=5000)
    OutboxMessage.objects.bulk_create(messages, batch_size=5000)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def scrape_times() -> dict:
    import base64

    from django.test import Client

    client = Client()
    auth = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"bench:metrics").decode()}
    for path in ("/api/products/", "/healthz", "/api/orders/", "/nowhere/") * 10:
        client.get(path)  # request counts in the directory, as a running stack has them
    times = []
    for _ in range(SCRAPES):
        started = time.perf_counter()
        response = client.get("/metrics", **auth)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    import percentiles

    times = times[5:]  # the first ones warm caches and connections
    series = sum(1 for line in response.content.decode().splitlines() if not line.startswith("#"))
    return {
        "orders": ORDERS,
        "scrape_p50_ms": round(percentiles.pct(times, 50), 1),
        "scrape_p95_ms": round(percentiles.pct(times, 95), 1),
        "series": series,
    }


if __name__ == "__main__":
    main()
