"""device_name: the words a sign-in alert uses for the device, from its User-Agent."""

import pytest

from accounts.devices import UNKNOWN_DEVICE, device_name


@pytest.mark.parametrize(
    ("user_agent", "named"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
            " Chrome/131.0.0.0 Safari/537.36",
            "Chrome on Linux",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
            " Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome Mobile on Android",
        ),
        ("curl/8.5.0", "curl"),  # no system in the header: the client alone
        ("", UNKNOWN_DEVICE),
        ("Chrome on a phone", UNKNOWN_DEVICE),  # made up: not a browser's header
    ],
)
def test_a_device_is_named_by_its_browser_and_system(user_agent, named):
    assert device_name(user_agent=user_agent) == named
