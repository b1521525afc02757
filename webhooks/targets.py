"""Where a webhook endpoint's URL may lead: the shop's SSRF guard (core.public_http), at
save time and again at each attempt, plain http to loopback only with
SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK."""

from django.conf import settings

from core.public_http import Target, public_target


def endpoint_target(url: str) -> Target:
    """AddressRefused (AddressUnresolved) naming why not."""
    return public_target(url, loopback_allowed=settings.SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK)
