"""A webhook receiver of the tests' own, on loopback, outside the shop's code: each request
is verified with the Standard Webhooks reference library (PyPI `standardwebhooks`)
against the secrets the test gives it, so a signing bug cannot hide behind the shop's own
code. It answers what the test says (a status, after holding the request until the test
releases it), can go down and come back on the same port, and keeps every request."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from devstack.stack import free_port


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    verified_by: list[str]  # the receiver's secrets that verify it (reference library)
    at: float  # time.monotonic() when it arrived

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Behaviour:
    status: int = 200
    hold: bool = False  # answer only once released (or after HOLD_LIMIT)
    secrets: list[str] = field(default_factory=list)


HOLD_LIMIT = 60.0  # every wait bounded: a held request is answered after this anyway


class WebhookReceiver:
    """`with WebhookReceiver() as receiver:` a server on 127.0.0.1; `receiver.url(path)`.
    Paths are endpoints of their own: `behave(path, status=..., hold=..., secrets=...)`."""

    def __init__(self):
        self.port = free_port()
        self.received: list[Received] = []
        self.behaviours: dict[str, Behaviour] = {}
        self.in_flight: dict[str, int] = {}
        self.most_in_flight: dict[str, int] = {}
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def behave(self, path: str = "/hook", **how) -> Behaviour:
        self.behaviours[path] = Behaviour(**{**vars(self.behaviours.get(path, Behaviour())), **how})
        return self.behaviours[path]

    def at(self, path: str = "/hook") -> list[Received]:
        with self._lock:
            return [request for request in self.received if request.path == path]

    def start(self) -> "WebhookReceiver":
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: connections are refused until start() again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.released.set()
        self.stop()

    def _arrived(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)
            count = self.in_flight[request.path] = self.in_flight.get(request.path, 0) + 1
            most = max(self.most_in_flight.get(request.path, 0), count)
            self.most_in_flight[request.path] = most

    def _left(self, path: str) -> None:
        with self._lock:
            self.in_flight[path] -= 1


def verified_by(secrets: list[str], body: bytes, headers: dict) -> list[str]:
    ok = []
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            continue
        ok.append(secret)
    return ok


def _handler(receiver: WebhookReceiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {key.lower(): value for key, value in self.headers.items()}
            behaviour = receiver.behaviours.get(self.path, Behaviour())
            verified = verified_by(behaviour.secrets, body, headers)
            receiver._arrived(Received(self.path, headers, body, verified, time.monotonic()))
            try:
                if behaviour.hold:
                    receiver.released.wait(HOLD_LIMIT)
                self.send_response(receiver.behaviours.get(self.path, behaviour).status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            finally:
                receiver._left(self.path)

        def log_message(self, *args):
            pass

    return Handler


# --- The shop's side, as a test drives it -------------------------------------------------


def resolver(answers: dict[str, list[str]]):
    """A DNS of the test's own for core.public_http.resolve: host -> addresses; an address
    is itself; any other name does not resolve. Nothing here reaches the network."""
    import ipaddress

    def resolve(host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        if host not in answers:
            raise OSError(f"{host}: Name or service not known")
        return answers[host]

    return resolve


def hook(receiver: WebhookReceiver, path: str = "/hook", **fields):
    """An endpoint of the shop's at `path` of the receiver, which verifies with its secret."""
    from webhooks.models import Endpoint
    from webhooks.signatures import secret_new

    endpoint = Endpoint.objects.create(
        url=receiver.url(path), events=["order.created"], secret=secret_new(), **fields
    )
    receiver.behave(path, secrets=[endpoint.secret])
    return endpoint


def wake(delivery_id: str) -> str:
    """One message of webhooks.deliver for the delivery, run here as a worker runs it;
    what came of it (delivered, retry, waiting, ...)."""
    from webhooks.tasks import deliver

    return deliver.apply(args=[delivery_id]).get()


def due_now(delivery_id: str) -> None:
    """Time passes until the delivery's next try is due: its due time and its outbox row's
    moved to now (the database's clock), as they would be after the wait."""

    from core.clock import db_now
    from webhooks.models import Delivery
    from worker.models import OutboxMessage

    Delivery.objects.filter(pk=delivery_id).update(next_attempt_at=db_now(plus_seconds=-1))
    OutboxMessage.objects.filter(
        task_name="webhooks.deliver", args=[delivery_id], published_at__isnull=True
    ).update(not_before=db_now(plus_seconds=-1))


def time_passes(seconds: float, *delivery_ids: str) -> None:
    """`seconds` pass for these deliveries: their due times and leases moved that far back
    (the database's clock), as they would read after the wait."""
    from datetime import timedelta

    from django.db.models import F

    from webhooks.models import Delivery

    back = timedelta(seconds=seconds)
    Delivery.objects.filter(pk__in=delivery_ids).update(
        next_attempt_at=F("next_attempt_at") - back, leased_until=F("leased_until") - back
    )


def message_lost(broker_url: str, delivery_id: str) -> bool:
    """The message waking this delivery deleted from the webhooks queue on Redis, as a
    broker loses one; False while none is there."""
    import base64

    import redis

    client = redis.Redis.from_url(broker_url)
    for raw in client.lrange("webhooks", 0, -1):
        envelope = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        if envelope["headers"]["task"] == "webhooks.deliver" and args == [delivery_id]:
            return client.lrem("webhooks", 1, raw) == 1
    return False
