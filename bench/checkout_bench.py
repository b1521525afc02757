"""Checkout benchmark: latency, throughput and SQL queries of POST /api/orders/.

Runs the real view in-process (DRF test client, no HTTP server) on a throwaway test
database (DATABASE_URL's engine; SQLite by default) with a real Redis broker for the
after-commit publish, then again with the broker down (the outbox keeps rows for the
relay). Prints a table and writes the raw numbers to bench/results/checkout.json.

    make bench                    # or: .venv/bin/python bench/checkout_bench.py --orders 100
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=60, help="checkouts per scenario")
    parser.add_argument("--sizes", default="1,10,50", help="cart sizes (lines per cart)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "checkout.json"))
    args = parser.parse_args()

    from core.stack import EmbeddedRedis, free_port, redis_answers, wait_for_redis

    broker = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    embedded = None
    if not redis_answers(broker):
        embedded = EmbeddedRedis(data_dir=ROOT / "var" / "bench-redis")
        embedded.data_dir.mkdir(parents=True, exist_ok=True)
        embedded_process = subprocess.Popen(embedded.argv(), stdout=subprocess.DEVNULL)
        wait_for_redis(embedded.url, timeout=15)
        broker = embedded.url
    os.environ["CELERY_BROKER_URL"] = broker

    import logging

    import django

    django.setup()
    logging.disable(logging.WARNING)  # the audit line per order and broker-down warnings
    from django.conf import settings
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    setup_test_environment()
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        sizes = [int(size) for size in args.sizes.split(",")]
        rows = []
        for broker_state, url in (("up", broker), ("down", f"redis://127.0.0.1:{free_port()}/0")):
            for size in sizes:
                rows.append(
                    run_scenario(size=size, orders=args.orders, broker=url)
                    | {
                        "broker": broker_state,
                    }
                )
    finally:
        teardown_databases(old_config, verbosity=0)
        if embedded:
            embedded_process.terminate()
            embedded_process.wait()

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print_table(rows, engine)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"database": engine, "orders_per_scenario": args.orders, "runs": rows}, indent=2)
    )
    print(f"\nraw numbers: {out}")


def run_scenario(*, size: int, orders: int, broker: str) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from store.models import Cart, CartItem, Product
    from tests.factories import ProductFactory, UserFactory
    from tests.support import celery_broker
    from worker import outbox

    products = ProductFactory.create_batch(size, on_hand=orders * 10)
    user = UserFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    carts = []
    for _ in range(orders):
        cart = Cart.objects.create(customer=user.customer)
        CartItem.objects.bulk_create(CartItem(cart=cart, product=p, quantity=1) for p in products)
        carts.append(cart.pk)

    latencies, queries = [], []
    outbox._broker_down_until = 0.0
    with celery_broker(broker):
        started = time.perf_counter()
        for cart_id in carts:
            connection.queries_log.clear()  # a bounded deque: a full one counts nothing
            with CaptureQueriesContext(connection) as captured:
                t0 = time.perf_counter()
                response = client.post("/api/orders/", {"cart_id": str(cart_id)}, format="json")
                latencies.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 201, response.content
            queries.append(len(captured))
        elapsed = time.perf_counter() - started
    Product.objects.filter(pk__in=[p.pk for p in products]).update(is_active=False)
    latencies_sorted = sorted(latencies)
    return {
        "lines": size,
        "orders": orders,
        "mean_ms": round(statistics.fmean(latencies), 2),
        "p50_ms": round(latencies_sorted[len(latencies) // 2], 2),
        "p95_ms": round(latencies_sorted[int(len(latencies) * 0.95) - 1], 2),
        "max_ms": round(latencies_sorted[-1], 2),
        "orders_per_s": round(orders / elapsed, 1),
        "queries": statistics.mode(queries),
        "latencies_ms": [round(x, 3) for x in latencies],
    }


def print_table(rows: list[dict], engine: str) -> None:
    print(f"\nCheckout benchmark ({engine}, in-process, one client, sequential)\n")
    header = (
        "broker",
        "lines",
        "orders",
        "mean ms",
        "p50 ms",
        "p95 ms",
        "max ms",
        "orders/s",
        "SQL",
    )
    print("  ".join(f"{h:>8}" for h in header))
    for row in rows:
        values = (
            row["broker"], row["lines"], row["orders"], row["mean_ms"], row["p50_ms"],
            row["p95_ms"], row["max_ms"], row["orders_per_s"], row["queries"],
        )  # fmt: skip
        print("  ".join(f"{v:>8}" for v in values))


if __name__ == "__main__":
    main()
