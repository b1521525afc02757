import pytest

from core import public_http
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.webhooks import WebhookReceiver, resolver


@pytest.fixture
def dns(monkeypatch):
    """host -> addresses, as the test sets them; hooks.example.net is public."""
    answers = {"hooks.example.net": ["93.184.216.34"]}
    monkeypatch.setattr(public_http, "resolve", resolver(answers))
    return answers


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def staff(staff_user):
    return client_for(staff_user)


@pytest.fixture
def receiver(settings):
    """A receiver on loopback (allowed), verifying with the reference library."""
    settings.SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK = True
    with WebhookReceiver() as running:
        yield running
