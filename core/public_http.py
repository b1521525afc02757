"""HTTP requests to a URL someone handed the server (a Web Push endpoint, a webhook
endpoint) that cannot become a way into the private network (SSRF). The check runs when
the URL is stored and again before each request, which connects to the very address the
check approved (`public_post`): a DNS answer that changes in between smuggles nothing in.
A request's resolution and the whole request run under one deadline (core.deadline)."""

import ipaddress
import socket
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

from core.deadline import Deadline, DeadlineExceeded


class AddressRefused(ValueError):
    """Not a URL this server will send a request to."""


class AddressUnresolved(AddressRefused):
    """The URL's host did not resolve: maybe a DNS hiccup (a later request tries again)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query
    address: str  # the approved IP to connect to

    @property
    def origin(self) -> str:
        default = 443 if self.scheme == "https" else 80
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}"


@dataclass(frozen=True)
class Reply:
    status: int
    retry_after: float  # the seconds its Retry-After asks (seconds or an HTTP date); 0: none
    text: str  # the start of the body


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# What a reply's body is read of: enough for an error message, not a download.
REPLY_BYTES = 1000
# A resolution with no request's deadline to share (an endpoint checked as it is saved).
RESOLVE_SECONDS = 5.0


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (tests put a resolver of their own here)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def public_target(url: str, *, loopback_allowed: bool, deadline: Deadline | None = None) -> Target:
    """Where to send a request for `url`, its host resolved by `deadline` (the request's,
    else one of RESOLVE_SECONDS); AddressRefused naming why not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused("The endpoint is not a URL.") from exc
    schemes = ("https", "http") if loopback_allowed else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise AddressRefused("The endpoint must be an https URL.")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("The endpoint must not carry credentials.")
    port = port or (443 if parts.scheme == "https" else 80)
    deadline = deadline or Deadline(RESOLVE_SECONDS, about=f"resolving {parts.hostname}")
    try:
        addresses = deadline.call(resolve, parts.hostname, port)
    except DeadlineExceeded as exc:  # a DNS hiccup like any other: a later request tries again
        raise AddressUnresolved(f"The endpoint's host does not resolve ({exc}).") from exc
    except (OSError, UnicodeError) as exc:
        raise AddressUnresolved("The endpoint's host does not resolve.") from exc
    if not addresses:
        raise AddressUnresolved("The endpoint's host does not resolve.")
    for address in addresses:
        _check_address(address, http=parts.scheme == "http", loopback_allowed=loopback_allowed)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path, addresses[0])


def _check_address(address: str, *, http: bool, loopback_allowed: bool) -> None:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address inside IPv6 (mapped, 6to4, NAT64) is checked as that address.
        if ip.ipv4_mapped or ip.sixtofour:
            ip = ip.ipv4_mapped or ip.sixtofour
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.is_loopback and loopback_allowed:
        return
    if http:
        raise AddressRefused("Plain http is for a loopback endpoint only (tests, a local service).")
    # is_global leaves out private, loopback, link-local (the cloud metadata address
    # 169.254.169.254 among them), shared (100.64/10), reserved and unspecified ranges.
    if not ip.is_global or ip.is_multicast:
        raise AddressRefused("The endpoint's host is not on the public internet.")


def public_post(target: Target, *, body: bytes, headers: dict, deadline: Deadline) -> Reply:
    """POST `body` to the address `target`'s check approved (the URL's host in the Host
    header and, over https, in the TLS name check), no redirect followed, nothing retried;
    the reply's status, Retry-After and the start of its body. The whole of it (connect, TLS,
    send, every read) is cut at `deadline`, the one the target was resolved under:
    DeadlineExceeded then. urllib3's errors and OSError when no answer came."""
    https = target.scheme == "https"
    pool_class = urllib3.HTTPSConnectionPool if https else urllib3.HTTPConnectionPool
    extra = {"server_hostname": target.host, "assert_hostname": target.host} if https else {}
    headers = {**headers, "Host": target.origin.split("://", 1)[1]}
    # The time left as each socket operation's timeout too: a backstop to the cut.
    timeout = deadline.left()
    with (
        deadline,
        pool_class(target.address, target.port, timeout=timeout, retries=False, **extra) as pool,
    ):
        response = pool.urlopen(
            "POST", target.path, body=body, headers=headers, redirect=False, preload_content=False
        )
        try:
            start = response.read(REPLY_BYTES, decode_content=False)
        finally:
            response.close()  # the rest unread: the connection goes with the pool
    return Reply(response.status, _retry_after(response), start.decode("utf-8", "replace"))


def _retry_after(response) -> float:
    """The seconds a reply's Retry-After asks (its name in any case; seconds or an HTTP
    date, read by urllib3), uncapped: each caller caps it. 0 without one that reads as
    either (junk, a negative number, a date past or out of range): the reply still counts."""
    try:
        return urllib3.util.Retry(retry_after_max=sys.maxsize).get_retry_after(response) or 0.0
    except (urllib3.exceptions.InvalidHeader, ValueError, OverflowError):
        return 0.0
