"""A webhook receiver of the tests' own, on loopback, outside the shop's code: each request
is verified with the Standard Webhooks reference library (PyPI `standardwebhooks`)
against the secrets the test gives it, so a signing bug cannot hide behind the shop's own
code. Each body is validated against its event type's JSON Schema as the repository keeps
it (webhooks/schemas/, read as files: the shop's code again out of it); a body that does
not validate fails the test when the receiver closes. It answers what the test says (a
status, after holding the request until the test releases it), can go down and come back
on the same port, and keeps every request."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jsonschema import Draft202012Validator
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from devstack.stack import free_port
from tests.support import PROJECT_DIR

SCHEMAS = PROJECT_DIR / "webhooks" / "schemas"


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
    headers: dict = field(default_factory=dict)  # sent with the answer (Retry-After)


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
        self.invalid: list[str] = []  # bodies that do not validate against their schema
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

    def __exit__(self, error_type, *exc):
        self.released.set()
        self.stop()
        if self.invalid and error_type is None:
            raise AssertionError("bodies not valid by their schema:\n" + "\n".join(self.invalid))

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


def schema_errors(body: bytes) -> list[str]:
    """Why `body` is not valid by the JSON Schema of its event type ([] when it is)."""
    try:
        event = json.loads(body)
        schema = json.loads((SCHEMAS / f"{event['type']}.json").read_text())
    except (ValueError, KeyError, TypeError, OSError) as exc:
        return [f"no event with a schema: {exc!r}"]
    checker = Draft202012Validator.FORMAT_CHECKER
    return [
        error.message
        for error in Draft202012Validator(schema, format_checker=checker).iter_errors(event)
    ]


def _handler(receiver: WebhookReceiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {key.lower(): value for key, value in self.headers.items()}
            behaviour = receiver.behaviours.get(self.path, Behaviour())
            verified = verified_by(behaviour.secrets, body, headers)
            receiver._arrived(Received(self.path, headers, body, verified, time.monotonic()))
            if errors := schema_errors(body):
                receiver.invalid.append(f"{body[:300]!r}: {'; '.join(errors)}")
            try:
                if behaviour.hold:
                    receiver.released.wait(HOLD_LIMIT)
                answer = receiver.behaviours.get(self.path, behaviour)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
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


def job_of(delivery_id: str):
    """The delivery's job (worker.jobs): where it stands."""
    from webhooks.models import JOB_KIND
    from worker.models import Job

    return Job.objects.get(kind=JOB_KIND, key=delivery_id)


def attempt_due() -> list[str]:
    """One run of webhooks.deliver here, as a woken worker runs it: it claims the delivery
    due longest (whose endpoint has a slot free) and makes its attempt; the ids delivered."""
    from webhooks.models import JOB_KIND

    from .jobs import jobs_run

    return jobs_run(JOB_KIND)


def attempts_of(delivery_id: str) -> list:
    """The delivery's attempts recorded (webhooks.models.Attempt), in order."""
    from webhooks.models import Attempt

    return list(Attempt.objects.filter(delivery__key=delivery_id))


def status_of(delivery_id: str) -> str:
    """The delivery's status as the API shows it (pending, delivered, failed)."""
    from webhooks.selectors import delivery_get

    return delivery_get(delivery_id=delivery_id).delivery_status


def due_now(*delivery_ids: str) -> None:
    """Time passes until these deliveries' next tries are due: their jobs' due times moved
    to now (the database's clock), as they would read after the wait."""
    from core.clock import db_now
    from webhooks.models import JOB_KIND
    from worker.models import Job

    Job.objects.filter(kind=JOB_KIND, key__in=delivery_ids).update(due_at=db_now(plus_seconds=-1))
