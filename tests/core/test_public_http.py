"""core.public_http's request under one deadline, against a receiver of the tests' own on
loopback (allowed, as the webhook and push tests allow it) that answers a byte a second."""

import email.utils
import time

import pytest

from core import public_http
from core.deadline import Deadline, DeadlineExceeded
from core.public_http import AddressUnresolved, public_post, public_target
from tests.support.trickle import TrickleServer

STATUS_LINE = b"HTTP/1.1 200 OK\r\n"
# No Content-Length: the body ends when the connection closes, so a cut one would read as
# ended, not as cut.
HEADERS = b"Content-Type: text/plain\r\nConnection: close\r\n\r\n"


def post(port: int, deadline: Deadline):
    target = public_target(
        f"http://127.0.0.1:{port}/hook", loopback_allowed=True, deadline=deadline
    )
    return public_post(target, body=b"{}", headers={}, deadline=deadline)


@pytest.mark.parametrize(
    "prefix", [STATUS_LINE, STATUS_LINE + HEADERS], ids=["headers trickled", "body trickled"]
)
def test_a_receiver_that_trickles_is_cut_at_the_deadline(prefix):
    """Each byte comes within any read timeout: urllib3's Timeout(total=...) bounded each
    read, and this request stayed open for as long as the receiver kept trickling."""
    with TrickleServer(prefix) as server:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"the POST: cut at its 2\.0 s deadline"):
            post(server.port, Deadline(2.0, about="the POST"))
        assert 2.0 <= time.monotonic() - started <= 4.0


def test_the_resolution_and_the_request_share_one_deadline(monkeypatch):
    """A lookup that took most of the time leaves the request only what is left of it."""

    def slow_resolver(host, port):
        time.sleep(1.5)  # a fixed wait is the point: a lookup that takes most of the time
        return [host]

    monkeypatch.setattr(public_http, "resolve", slow_resolver)
    with TrickleServer(STATUS_LINE + HEADERS) as server:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            post(server.port, Deadline(2.0, about="the POST"))
        assert 2.0 <= time.monotonic() - started <= 3.0


def test_a_lookup_that_does_not_answer_is_a_host_that_does_not_resolve_at_the_deadline(
    monkeypatch,
):
    """As any DNS hiccup is (a later request tries again), saying how long it waited."""

    def silent_resolver(host, port):
        time.sleep(3)  # a fixed wait is the point: a lookup that answers after the deadline

    monkeypatch.setattr(public_http, "resolve", silent_resolver)
    started = time.monotonic()
    with pytest.raises(AddressUnresolved, match=r"cut at its 1\.0 s deadline") as raised:
        public_target(
            "https://shop.example/hook",
            loopback_allowed=False,
            deadline=Deadline(1.0, about="the POST"),
        )
    assert 1.0 <= time.monotonic() - started <= 2.0
    assert isinstance(raised.value.__cause__, DeadlineExceeded)


def answer_with(header: bytes) -> bytes:
    return b"HTTP/1.1 429 Too Many Requests\r\n" + header + b"Content-Length: 0\r\n\r\n"


def http_date(seconds_from_now: float) -> bytes:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True).encode()


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [
        (lambda: b"Retry-After: 120\r\n", 120, 120),
        (lambda: b"retry-after: 120\r\n", 120, 120),  # as HTTP/2 writes every name
        (lambda: b"Retry-After: 86400\r\n", 86400, 86400),  # no cap of its own
        (lambda: b"Retry-After: " + http_date(3600) + b"\r\n", 3590, 3600),
        (lambda: b"Retry-After: " + http_date(-60) + b"\r\n", 0, 0),  # past
        (lambda: b"Retry-After: Mon, 01 Jan 99999 00:00:00 GMT\r\n", 0, 0),  # out of range
        (lambda: b"Retry-After: -5\r\n", 0, 0),
        (lambda: b"Retry-After: soon\r\n", 0, 0),
        (lambda: b"", 0, 0),
    ],
    ids=[
        "seconds",
        "lower-case name",
        "a day",
        "date",
        "past",
        "year 99999",
        "negative",
        "junk",
        "none",
    ],
)
def test_a_replys_retry_after_is_read_in_seconds_and_junk_is_none(header, low, high):
    with TrickleServer(answer_with(header())) as server:
        reply = post(server.port, Deadline(5.0, about="the POST"))
    assert reply.status == 429
    assert low <= reply.retry_after <= high
