"""Preferences: per kind and channel, with defaults and channels that cannot be off."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from notifications import preferences
from notifications.models import STAFF_ONLY_KINDS, NotificationPreference
from notifications.services.preferences import preferences_update
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.notifications import notify
from tests.support.polling import wait_for_a_lock_wait

PREFS = "/api/notifications/preferences/"


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


@pytest.mark.django_db
def test_staff_who_chose_nothing_get_the_defaults_for_every_kind(staff):
    got = client_for(staff).get(PREFS).json()
    assert got == {kind: dict(channels) for kind, channels in preferences.DEFAULTS.items()}
    assert got["order_placed"] == {"in_app": True, "email": True, "push": False}
    assert got["message"] == {"in_app": True, "email": True, "push": True}


@pytest.mark.django_db
def test_a_customer_is_offered_only_the_kinds_that_can_reach_a_customer(user):
    got = client_for(user).get(PREFS).json()

    assert list(got) == [
        "order_placed",
        "order_cancelled",
        "order_fulfilled",
        "message",
        "new_device_login",
    ]
    assert not STAFF_ONLY_KINDS & set(got)
    assert got["order_placed"] == preferences.DEFAULTS["order_placed"]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(STAFF_ONLY_KINDS))
def test_a_customer_naming_a_staff_only_kind_is_400_and_changes_nothing(user, kind):
    body = {"message": {"email": False}, kind: {"push": True}}

    response = client_for(user).put(PREFS, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()[kind] == [f"{kind} is for staff only: it never reaches a customer."]
    assert "message" not in response.json()
    assert not NotificationPreference.objects.filter(user=user).exists()


def test_the_staff_only_kinds_are_low_stock_failures_and_duplicates():
    assert {"low_stock", "side_effect_failed", "duplicate_order"} == STAFF_ONLY_KINDS


@pytest.mark.django_db
def test_a_put_naming_some_kinds_and_channels_changes_only_those(staff):
    response = client_for(staff).put(
        PREFS, {"message": {"email": False}, "low_stock": {"push": True}}, format="json"
    )
    assert response.status_code == 200, response.content
    got = client_for(staff).get(PREFS).json()
    assert got["message"] == {"in_app": True, "email": False, "push": True}
    assert got["low_stock"] == {"in_app": True, "email": True, "push": True}
    assert got["order_placed"] == preferences.DEFAULTS["order_placed"]
    assert response.json() == got


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"no_such_kind": {"email": False}},
        {"message": {"fax": True}},
        {"message": {"email": "no"}},
        {"message": False},
        ["message"],
        {"side_effect_failed": {"in_app": False}},  # must reach staff in the app
    ],
)
def test_bad_preferences_are_400_and_change_nothing(staff, body):
    response = client_for(staff).put(PREFS, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()
    assert not NotificationPreference.objects.filter(user=staff).exists()


@pytest.mark.django_db
def test_a_kind_turned_off_in_the_app_is_not_listed_or_counted_and_only_that_kind(staff):
    client = client_for(staff)
    assert client.put(PREFS, {"low_stock": {"in_app": False}}, format="json").status_code == 200
    notify(staff, "muted", kind="low_stock")
    shown = notify(staff, "shown")
    listed = client.get("/api/notifications/").json()["results"]
    assert [n["id"] for n in listed] == [shown.pk]
    assert client.get("/api/notifications/unread-count/").json()["unread"] == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_changes_at_once_to_one_kind_both_stay(user):
    """The first change is made and held uncommitted; the second, sent meanwhile, waits
    for it, then merges over it. Without the lock the second merged over the defaults it
    read before, and the first change was lost."""
    first_made, release = threading.Event(), threading.Event()

    def first():
        try:
            with transaction.atomic():
                preferences_update(user=user, changes={"message": {"email": False}})
                first_made.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def second():
        try:
            return client_for(user).put(PREFS, {"message": {"push": False}}, format="json")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        held = pool.submit(first)
        first_made.wait(timeout=10)
        answer = pool.submit(second)
        wait_for_a_lock_wait()
        release.set()
        held.result(timeout=30)
        assert answer.result(timeout=30).status_code == 200

    got = client_for(user).get(PREFS).json()
    assert got["message"] == {"in_app": True, "email": False, "push": False}
