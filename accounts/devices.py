"""A person's words for the device a sign-in came from, read from its User-Agent header
with uap-core's patterns (ua-parser): "Firefox on Windows", "Mobile Safari on iOS"."""

from ua_parser import parse

UNKNOWN_DEVICE = "an unknown browser"


def device_name(*, user_agent: str) -> str:
    """The browser and its system as people name them; the browser alone when the system
    is not known; UNKNOWN_DEVICE when the browser is not (an empty or made-up header)."""
    found = parse(user_agent).with_defaults()  # "Other" for a part it does not know
    browser, system = found.user_agent.family, found.os.family
    if browser == "Other":
        return UNKNOWN_DEVICE
    return browser if system == "Other" else f"{browser} on {system}"
