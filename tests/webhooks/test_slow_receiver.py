"""One slow endpoint beside a fast one, on the processes as deployed (the webhooks worker on
its threads, the relay process that dispatches the jobs) and on both brokers: an endpoint
that answers one byte every 3 s never finishes an answer. Each of its requests is cut at
the 15 s deadline, it never has more than 4 open at once, no two attempts of one
webhook-id overlap, and the fast endpoint subscribed to the same events gets each of them
within 10 s, however long the slow one's backlog (measured at the receivers, printed).
Staff redelivering the deliveries under way starts no second attempt beside them."""

import contextlib
import itertools
import select
import socket
import statistics
import threading
import time

import pytest

from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.polling import wait_until
from tests.support.processes import DispatcherProcess, WorkerProcess, subprocess_env
from tests.support.webhooks import WebhookReceiver, hook
from webhooks.models import Attempt, Endpoint
from webhooks.services.deliveries import any_enabled
from webhooks.signatures import secret_new

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BURST = 12  # events at once: the slow endpoint's 4 slots and a backlog twice as long
THEN, EVERY = 12, 3.0  # then one event every 3 s while that backlog lasts
FAST_WITHIN, CUT_WITHIN = 10.0, 20.0  # seconds: the promise, and the 15 s cut plus slack


class SlowReceiver:
    """An HTTP server on loopback that reads a request, sends a status line, then one
    byte every `every` seconds for as long as the client stays. Each connection is
    recorded with its webhook-id, when it was accepted and when the client closed it;
    `most_open`: the most connections open at once."""

    def __init__(self, every: float = 3.0):
        self.every = every
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections: list[dict] = []
        self.open = self.most_open = 0
        self._lock, self._stop = threading.Lock(), threading.Event()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slow"

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _accept(self):
        with contextlib.suppress(OSError):
            while not self._stop.is_set():
                connection, _ = self._listener.accept()
                with self._lock:
                    self.open += 1
                    self.most_open = max(self.most_open, self.open)
                seen = {"id": None, "opened": time.monotonic(), "closed": None}
                threading.Thread(target=self._trickle, args=(connection, seen), daemon=True).start()

    def _trickle(self, connection: socket.socket, seen: dict):
        request = b""
        with connection, contextlib.suppress(OSError):
            connection.settimeout(5)
            while b"\r\n\r\n" not in request and (chunk := connection.recv(65536)):
                request += chunk
            for line in request.split(b"\r\n"):
                if line.lower().startswith(b"webhook-id:"):
                    seen["id"] = line.split(b":", 1)[1].strip().decode()
            with self._lock:
                self.connections.append(seen)
            connection.sendall(b"HTTP/1.1 200 OK\r\n")
            while not self._stop.is_set():
                # The client closing (its deadline shuts the socket) ends it at once.
                readable, _, _ = select.select([connection], [], [], self.every)
                if readable and not connection.recv(65536):
                    break
                connection.sendall(b"x")
        seen["closed"] = time.monotonic()
        with self._lock:
            self.open -= 1

    def ended(self) -> list[dict]:
        with self._lock:
            return [c for c in self.connections if c["closed"] is not None]


def order_placed(client, customer) -> float:
    """A checkout through the API: its order.created event committed; when."""
    cart = cart_with(customer, (ProductFactory(on_hand=100), 1))
    assert client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json").status_code == 201
    return time.monotonic()


@contextlib.contextmanager
def webhook_processes(env: dict, tmp_path):
    """As deployed: the webhooks worker on 16 threads (docker-compose.yml), the relay
    process dispatching; both stopped on leaving. The worker."""
    worker = WorkerProcess(
        env, tmp_path / "worker.log", concurrency=16, queues="webhooks", pool="threads"
    ).start()
    relay = DispatcherProcess(env, tmp_path / "relay.log").start()
    try:
        yield worker
    finally:
        relay.stop()
        worker.stop()


def events_while_staff_redeliver(client, customer, staff, slow_receiver) -> list[float]:
    """BURST orders at once; staff redeliver the 4 under way at the slow endpoint, asked
    again while one attempt holds each; then THEN orders, one every EVERY seconds, spread
    over the slow endpoint's backlog. When each order's event was committed."""
    placed = [order_placed(client, customer) for _ in range(BURST)]
    wait_until(lambda: len(slow_receiver.connections) >= 4, timeout=15, message="4 in")
    for delivery_id in {c["id"] for c in slow_receiver.connections}:
        redeliver = f"/api/webhooks/deliveries/{delivery_id}/redeliver/"
        assert staff.post(redeliver).status_code == 202
    for _ in range(THEN):
        time.sleep(EVERY)  # a fixed wait is the point: events spread over the backlog
        placed.append(order_placed(client, customer))
    return placed


def attempts_by_webhook_id(connections: list[dict]) -> dict[str, list[dict]]:
    """The slow receiver's connections by webhook-id, each id's in the order opened."""
    by_id: dict[str, list[dict]] = {}
    for connection in connections:
        by_id.setdefault(connection["id"], []).append(connection)
    for attempts in by_id.values():
        attempts.sort(key=lambda c: c["opened"])
    return by_id


def test_a_slow_endpoint_is_cut_capped_and_never_holds_up_a_fast_one(
    stoppable_broker, tmp_path, settings
):
    settings.SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK = True
    env = subprocess_env(CELERY_BROKER_URL=stoppable_broker.url, SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK=1)
    shopper, staff = UserFactory(), client_for(UserFactory(is_staff=True))
    client = client_for(shopper)
    with SlowReceiver(every=3.0) as slow_receiver, WebhookReceiver() as receiver:
        slow = Endpoint.objects.create(
            url=slow_receiver.url(), events=["order.created"], secret=secret_new()
        )
        fast = hook(receiver, "/fast")
        any_enabled.expire()
        with webhook_processes(env, tmp_path) as worker:
            placed = events_while_staff_redeliver(client, shopper.customer, staff, slow_receiver)
            wait_until(
                lambda: len(receiver.at("/fast")) >= len(placed),
                timeout=30,
                message=f"every event at the fast endpoint; worker log:\n{worker.output()[-3000:]}",
            )
            wait_until(lambda: len(slow_receiver.ended()) >= 8, timeout=30, message="8 cut")

    fast_requests = receiver.at("/fast")
    assert len(fast_requests) == len(placed)  # once each
    latencies = [request.at - at for request, at in zip(fast_requests, placed, strict=True)]
    connections = slow_receiver.ended()
    held = [c["closed"] - c["opened"] for c in connections]
    recorded = Attempt.objects.filter(delivery__concurrency_key=str(slow.pk)).values_list(
        "duration_ms", flat=True
    )
    print(
        f"\n[{stoppable_broker.url.split(':')[0]}] fast endpoint: {len(latencies)} events, "
        f"latency median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s; "
        f"slow endpoint: {len(connections)} requests ended, held {min(held):.1f}-"
        f"{max(held):.1f} s at the server, attempts recorded up to {max(recorded) / 1000:.1f} s, "
        f"at most {slow_receiver.most_open} open at once"
    )
    assert max(latencies) <= FAST_WITHIN, latencies
    assert all(request.verified_by == [fast.secret] for request in fast_requests)
    assert min(held) >= 14 and max(held) <= CUT_WITHIN, held
    assert max(recorded) <= CUT_WITHIN * 1000
    assert slow_receiver.most_open == 4  # its 4 slots taken, never a fifth
    # One webhook-id's attempts one after another.
    for attempts in attempts_by_webhook_id(slow_receiver.connections).values():
        for before, after in itertools.pairwise(attempts):
            assert before["closed"] is not None and before["closed"] <= after["opened"]
