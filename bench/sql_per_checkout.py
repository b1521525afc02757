"""SQL statements per checkout: POST /api/orders/ in-process (DRF test client) on a
throwaway test database and a real Redis broker, for carts of 1 and 50 lines; the
outbox rows it writes are published by the relay after it, in batches, not counted.
Prints one JSON line: {"1": n, "50": n}.

The same count is pinned by tests/store/test_checkout.py.
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_DEBUG", "1")  # development settings, as the test suite uses
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# The same cart three times in a row would be flagged a duplicate (the rare case, no extra
# statement: its alert is the window's); the check itself still runs and counts.
os.environ.setdefault("SHOPFLOW_DUPLICATE_WINDOW_MINUTES", "0")


def main() -> None:
    from devstack.stack import redis_answers

    broker = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    if not redis_answers(broker):
        from tests.support.brokers import RedisServer

        server = RedisServer().start()
        broker = server.url
    os.environ["CELERY_BROKER_URL"] = broker

    import logging

    import django

    django.setup()
    logging.disable(logging.WARNING)
    from django.conf import settings
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    setup_test_environment()
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        counts = {str(lines): count_checkout(lines) for lines in (1, 50)}
    finally:
        teardown_databases(old_config, verbosity=0)
    print(json.dumps(counts))


def count_checkout(lines: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import ProductFactory, UserFactory, cart_with
    from tests.support.clients import client_for
    from worker.models import OutboxMessage

    user = UserFactory()
    client = client_for(user)
    products = ProductFactory.create_batch(lines, on_hand=100)
    counts = []
    for _ in range(3):  # the first request of a process warms caches; take the last
        cart = cart_with(user.customer, *[(p, 1) for p in products])
        with CaptureQueriesContext(connection) as captured:
            response = client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
        assert response.status_code == 201, response.content
        order_id = response.json()["id"]
        written = OutboxMessage.objects.filter(args=[[order_id]]).count()
        assert written == 3, f"order {order_id}: {written} outbox rows, not 3"
        counts.append(len(captured))
    return counts[-1]


if __name__ == "__main__":
    main()
