"""A login from a device (user agent) the account never logged in from reaches its user,
in the app and by email, whatever their preferences say; not in the account's first hour,
whose sign-ins are its owner's own."""

import re
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from accounts.selectors import NEW_ACCOUNT_QUIET
from notifications.models import Notification
from tests.factories import PASSWORD
from tests.support.clients import client_for

pytestmark = pytest.mark.django_db(transaction=True)  # the signal is sent after commit


def log_in(user, user_agent: str) -> None:
    response = APIClient().post(
        "/api/auth/token/",
        {"username": user.username, "password": PASSWORD},
        format="json",
        HTTP_USER_AGENT=user_agent,
    )
    assert response.status_code == 200, response.content


FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
)
SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


CHROME_ON_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Mobile Safari/537.36"
)


@pytest.fixture
def account(user, wall_clock):
    """`user`, its first hour over by the clock the logins read."""
    wall_clock.now = user.date_joined + NEW_ACCOUNT_QUIET
    return user


def test_no_alert_in_the_accounts_first_hour_and_its_devices_are_known_after(user, wall_clock):
    wall_clock.now = user.date_joined
    log_in(user, FIREFOX_ON_WINDOWS)  # sign-up's token, say
    wall_clock.advance(NEW_ACCOUNT_QUIET.total_seconds() - 1)
    log_in(user, SAFARI_ON_IPHONE)  # then the phone, a second before the hour is over
    assert not Notification.objects.filter(recipient=user).exists()

    wall_clock.advance(1)  # an hour old
    log_in(user, SAFARI_ON_IPHONE)  # seen in the first hour: known
    assert not Notification.objects.filter(recipient=user).exists()
    log_in(user, CHROME_ON_ANDROID)
    (alert,) = Notification.objects.filter(recipient=user)
    assert alert.kind == "new_device_login" and "Chrome Mobile on Android" in alert.message
    assert timedelta(hours=1) == NEW_ACCOUNT_QUIET


def test_only_a_login_from_a_new_device_notifies_its_user(account):
    user = account
    log_in(user, FIREFOX_ON_WINDOWS)  # the first login: nothing to compare with
    log_in(user, FIREFOX_ON_WINDOWS)  # a device seen before
    assert not Notification.objects.filter(recipient=user).exists()

    log_in(user, SAFARI_ON_IPHONE)
    (alert,) = Notification.objects.filter(recipient=user)
    assert alert.kind == "new_device_login" and alert.link == "/account/password/"
    log_in(user, SAFARI_ON_IPHONE)  # known now
    assert Notification.objects.filter(recipient=user).count() == 1


def test_the_alert_names_the_device_as_a_person_would_not_by_its_header(account):
    user = account
    log_in(user, FIREFOX_ON_WINDOWS)
    log_in(user, SAFARI_ON_IPHONE)

    (alert,) = Notification.objects.filter(recipient=user)
    assert re.fullmatch(
        r"New sign-in to your account: Mobile Safari on iOS, from 127\.0\.0\.1, at"
        r" \d{4}-\d\d-\d\d \d\d:\d\d UTC\. Not you\? Change your password\.",
        alert.message,
    ), alert.message
    assert "Mozilla" not in alert.message


def test_its_app_and_email_channels_cannot_be_turned_off(user):
    client = client_for(user)
    for channel in ("in_app", "email"):
        response = client.put(
            "/api/notifications/preferences/",
            {"new_device_login": {channel: False}},
            format="json",
        )
        assert response.status_code == 400, channel
    turned = client.put(
        "/api/notifications/preferences/", {"new_device_login": {"push": False}}, format="json"
    )
    assert turned.json()["new_device_login"] == {"in_app": True, "email": True, "push": False}
