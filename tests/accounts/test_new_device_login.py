"""A login from a device (user agent) the account never logged in from reaches its user,
in the app and by email, whatever their preferences say."""

import pytest
from rest_framework.test import APIClient

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


def test_only_a_login_from_a_new_device_notifies_its_user(user):
    log_in(user, "Firefox on a laptop")  # the first login: nothing to compare with
    log_in(user, "Firefox on a laptop")  # a device seen before
    assert not Notification.objects.filter(recipient=user).exists()

    log_in(user, "Chrome on a phone")
    (alert,) = Notification.objects.filter(recipient=user)
    assert alert.kind == "new_device_login"
    assert "Chrome on a phone" in alert.message and alert.link == "/api/auth/logins/"
    log_in(user, "Chrome on a phone")  # known now
    assert Notification.objects.filter(recipient=user).count() == 1


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
