"""core.deadline on real sockets: a peer that answers one byte a second is cut at the
deadline, a lookup that does not answer is abandoned at it, a fast call is left alone."""

import socket
import threading
import time

import pytest

from core.deadline import Deadline, DeadlineExceeded
from tests.support.trickle import TrickleServer


def read_to_the_end(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"hello\n")
        received = b""
        while chunk := sock.recv(1024):
            received += chunk
        return received


def test_a_peer_that_trickles_is_cut_at_the_deadline_not_at_a_read_timeout():
    """Each byte comes well within the socket's 30 s timeout: only the deadline ends it."""
    with TrickleServer() as server:
        started = time.monotonic()
        cut = r"the trickle: cut at its 2\.0 s deadline"
        with pytest.raises(DeadlineExceeded, match=cut), Deadline(2.0, about="the trickle"):
            read_to_the_end(server.port)
        assert 2.0 <= time.monotonic() - started <= 4.0


def test_a_lookup_that_does_not_answer_is_abandoned_at_the_deadline():
    answered = threading.Event()

    def slow_resolver(host, port):
        time.sleep(5.0)  # a fixed wait is the point: a resolver that does not answer
        answered.set()
        return ["127.0.0.1"]

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="resolving"):
        Deadline(1.0, about="resolving shop.example").call(slow_resolver, "shop.example", 443)
    assert 1.0 <= time.monotonic() - started <= 2.0
    assert not answered.is_set()


def test_a_connection_made_in_a_helper_thread_is_cut_too():
    """What `call` runs inside `with` has its sockets cut as well (an SMTP connection being
    opened, its lookup included): the helper thread ends at the deadline."""
    with TrickleServer() as server:
        with pytest.raises(DeadlineExceeded), Deadline(1.0, about="opening") as deadline:
            deadline.call(read_to_the_end, server.port)
        helpers = [t for t in threading.enumerate() if t.name == "deadline: opening"]
        for helper in helpers:
            helper.join(timeout=1.0)
            assert not helper.is_alive()


def test_a_fast_call_is_unaffected_and_leaves_no_thread_behind():
    before = set(threading.enumerate())
    with TrickleServer(prefix=b"at once") as server:
        with Deadline(5.0, about="a fast call") as deadline:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(b"hello\n")
                assert sock.recv(7) == b"at once"
            assert deadline.call(lambda a, b: a + b, 1, 2) == 3
        assert not deadline.passed
    assert set(threading.enumerate()) == before


def test_what_the_call_raises_is_raised_as_it_is():
    def unknown(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(OSError, match="not known") as raised:
        Deadline(5.0, about="resolving").call(unknown, "nowhere.example", 443)
    assert not isinstance(raised.value, DeadlineExceeded)


def test_a_deadline_passed_before_the_call_starts_fails_at_once():
    with pytest.raises(DeadlineExceeded), Deadline(-1.0, about="late"):
        pytest.fail("the block ran past its deadline")


def test_an_error_raised_once_the_time_is_up_is_the_deadlines_before_the_timer_has_run(
    monotonic_clock,
):
    """A socket's timeout, the backstop, may fire a moment before the timer's thread cuts
    (CI saw a ReadTimeoutError): raised once the deadline's time is up, it is the
    deadline's. The timer here is 60 real seconds away; the stepped clock is past it."""
    cut = r"the POST: cut at its 60\.0 s deadline"
    with pytest.raises(DeadlineExceeded, match=cut), Deadline(60.0, about="the POST"):
        monotonic_clock.advance(60)
        raise TimeoutError("timed out")  # as the socket's backstop raises
