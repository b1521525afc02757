"""Web Push against a push service of the tests' own on loopback: the VAPID JWT checked,
the aes128gcm payload decrypted with the browser's key, the answers the test chooses."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import push
from notifications.models import NotificationDelivery, PushSubscription
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.notifications import notify
from tests.support.push import BrowserKeys, PushService, vapid_key_pair

pytestmark = pytest.mark.django_db(transaction=True)

SUBSCRIPTIONS = "/api/push/subscriptions/"


@pytest.fixture
def vapid(settings):
    settings.VAPID_PRIVATE_KEY, settings.VAPID_PUBLIC_KEY = vapid_key_pair()
    settings.VAPID_SUBJECT = "mailto:ops@shopflow.test"
    settings.SHOPFLOW_PUSH_ALLOW_LOOPBACK = True
    return settings.VAPID_PUBLIC_KEY


@pytest.fixture
def browser():
    return BrowserKeys()


@pytest.fixture
def service(browser, vapid):
    with PushService(browser, vapid) as running:
        yield running


PUSHED_MESSAGE = "New message about order #7"
PUSHED_LINK = "/api/orders/7/messages/"


def subscribe(user, browser, endpoint) -> dict:
    response = client_for(user).post(SUBSCRIPTIONS, browser.subscription(endpoint), format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def test_a_notification_reaches_the_browser_encrypted_signed_and_with_a_ttl(service, browser):
    user = UserFactory()
    subscribe(user, browser, service.endpoint())
    row = notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    assert push.pushes_send() == 1

    (request,) = service.requests
    assert request.payload == {
        "id": row.pk,
        "title": "New message",
        "body": "New message about order #7",
        "url": "/api/orders/7/messages/",
    }
    assert request.vapid_claims["sub"] == "mailto:ops@shopflow.test"
    assert int(request.headers["TTL"]) > 0  # not pywebpush's 0: kept for an offline browser
    assert request.headers["Urgency"] == "high"
    assert NotificationDelivery.objects.get(notification=row).status == "delivered"
    assert push.pushes_send() == 0 and len(service.requests) == 1  # nothing twice


def test_a_410_deletes_the_subscription(service, browser):
    user = UserFactory()
    subscribe(user, browser, service.endpoint())
    service.answer(410)
    row = notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    assert push.pushes_send() == 0
    assert not PushSubscription.objects.exists()
    delivery = NotificationDelivery.objects.get(notification=row)
    assert delivery.status == "failed" and delivery.last_error.startswith("410")


def test_a_429_is_retried_no_sooner_than_retry_after_then_delivered_once(service, browser):
    user = UserFactory()
    subscribe(user, browser, service.endpoint())
    service.answer(429, **{"Retry-After": "120"})
    row = notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    now = timezone.now()
    assert push.pushes_send(now=now) == 0
    failed_by = timezone.now()  # the wait runs from the failure
    delivery = NotificationDelivery.objects.get(notification=row)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at >= now + timedelta(seconds=120)
    assert push.pushes_send(now=now + timedelta(seconds=60)) == 0  # not yet
    assert len(service.requests) == 1
    assert push.pushes_send(now=failed_by + timedelta(seconds=120)) == 1
    assert len(service.requests) == 2
    assert NotificationDelivery.objects.get(notification=row).status == "delivered"


@pytest.mark.parametrize("status", [401, 403, 413])
def test_a_refusal_that_retrying_cannot_fix_is_not_retried(service, browser, status):
    user = UserFactory()
    subscribe(user, browser, service.endpoint())
    service.answer(status)
    row = notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    push.pushes_send()
    push.pushes_send(now=timezone.now() + timedelta(hours=1))
    assert len(service.requests) == 1
    delivery = NotificationDelivery.objects.get(notification=row)
    assert delivery.status == "failed" and delivery.last_error.startswith(str(status))
    assert PushSubscription.objects.exists()  # the browser may still be fine


def test_push_turned_off_for_a_kind_stops_push_only_for_that_kind(service, browser):
    user = UserFactory()
    subscribe(user, browser, service.endpoint())
    client_for(user).put(
        "/api/notifications/preferences/", {"message": {"push": False}}, format="json"
    )
    notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    assert push.pushes_send() == 0 and service.requests == []
    client_for(user).put(
        "/api/notifications/preferences/", {"order_placed": {"push": True}}, format="json"
    )
    notify(user, "Order #8 confirmed", kind="order_placed", link=PUSHED_LINK)
    assert push.pushes_send() == 1
    assert service.requests[0].payload["body"] == "Order #8 confirmed"


def test_each_of_a_persons_browsers_gets_it_once(service, browser):
    user = UserFactory()
    subscribe(user, browser, service.endpoint("laptop"))
    subscribe(user, browser, service.endpoint("phone"))
    subscribe(user, browser, service.endpoint("phone"))  # re-subscribed: the same row
    notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    assert push.pushes_send() == 2
    assert sorted(r.path for r in service.requests) == ["/push/laptop", "/push/phone"]


def test_a_commit_that_notifies_wakes_the_push_sender_through_the_outbox_once_subscribed(
    own_redis, vapid, browser
):
    """The wake-up is an outbox row of the notifying transaction (the web never talks to
    the broker); the relay joins several commits' rows into one run of the sender."""
    from tests.support.brokers import queued_messages
    from tests.support.processes import relay_drain
    from worker.models import OutboxMessage

    wake_ups = OutboxMessage.objects.filter(task_name="notifications.send_pushes")
    push.anyone_subscribed.expire()
    user, other = UserFactory(), UserFactory()

    notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    assert not wake_ups.exists()  # no one subscribed: no wake-up

    subscribe(user, browser, "http://127.0.0.1:9/push/device-1")
    notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    notify(other, PUSHED_MESSAGE, link=PUSHED_LINK)
    assert [row.args for row in wake_ups.order_by("pk")] == [[[user.pk]], [[other.pk]]]

    relay_drain()
    [(headers, args)] = [
        (headers, args)
        for headers, args in queued_messages(own_redis.url, "default")
        if headers["task"] == "notifications.send_pushes"
    ]
    assert args == [[user.pk, other.pk]] and not headers.get("eta")


def test_a_push_service_that_trickles_its_answer_is_cut_and_tried_again(
    service, browser, monkeypatch
):
    """A byte a second, each within any read timeout: the push is cut at its deadline (8 s
    in production, 2 here) and stays pending for a later try."""
    from tests.support.trickle import TrickleServer

    monkeypatch.setattr(push, "REQUEST_SECONDS", 2.0)
    user = UserFactory()
    with TrickleServer(b"HTTP/1.1 201 Created\r\n") as server:
        subscribe(user, browser, f"http://127.0.0.1:{server.port}/push/device-1")
        row = notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
        started = time.monotonic()
        assert push.pushes_send() == 0
        assert 2.0 <= time.monotonic() - started <= 4.0
    delivery = NotificationDelivery.objects.get(notification=row)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_error.startswith("DeadlineExceeded: the push to subscription ")
