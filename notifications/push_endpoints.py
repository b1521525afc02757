"""A push subscription's endpoint is a URL a user hands the server to POST to, so it must
not become a way into the private network (SSRF): https only (plain http to loopback
only with SHOPFLOW_PUSH_ALLOW_LOOPBACK, for tests and local push services), no
credentials in it, and a host whose every address is public. The check runs when the
subscription is stored and again before each send, and the send connects to the very
address the check approved (notifications.push), so a DNS answer that changes in between
cannot smuggle a private one in."""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class EndpointRefused(ValueError):
    """Not an endpoint this server will POST to."""


class EndpointUnresolved(EndpointRefused):
    """The endpoint's host did not resolve: maybe a DNS hiccup (a send tries again)."""


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


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (tests put a resolver of their own here)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def endpoint_target(url: str) -> Target:
    """Where to POST for `url`; EndpointRefused naming why not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EndpointRefused("The endpoint is not a URL.") from exc
    loopback_allowed = settings.SHOPFLOW_PUSH_ALLOW_LOOPBACK
    schemes = ("https", "http") if loopback_allowed else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise EndpointRefused("The endpoint must be an https URL.")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("The endpoint must not carry credentials.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(parts.hostname, port)
    except (OSError, UnicodeError) as exc:
        raise EndpointUnresolved("The endpoint's host does not resolve.") from exc
    if not addresses:
        raise EndpointUnresolved("The endpoint's host does not resolve.")
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
        raise EndpointRefused("Plain http is for a loopback push service only.")
    # is_global leaves out private, loopback, link-local (the cloud metadata address
    # 169.254.169.254 among them), shared (100.64/10), reserved and unspecified ranges.
    if not ip.is_global or ip.is_multicast:
        raise EndpointRefused("The endpoint's host is not on the public internet.")
