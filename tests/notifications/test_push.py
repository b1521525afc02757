"""Web Push against a push service of the tests' own on loopback: the VAPID JWT checked,
the aes128gcm payload decrypted with the browser's key, the answers the test chooses."""

import email.utils
import time
from datetime import timedelta

import pytest
from django.db.models.functions import Now

from notifications import push
from notifications.models import Notification, PushSubscription
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.jobs import jobs_run
from tests.support.notifications import due_now, notify
from tests.support.push import BrowserKeys, PushService, vapid_key_pair
from worker.celery import app
from worker.models import Job

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


def run_pushes() -> list[str]:
    return jobs_run(push.PUSH_KIND)


def push_jobs(notification=None):
    jobs = Job.objects.filter(kind=push.PUSH_KIND)
    return jobs if notification is None else jobs.filter(key__startswith=f"{notification.pk}:")


def test_a_notification_reaches_the_browser_encrypted_signed_and_with_a_ttl(service, browser):
    user = UserFactory()
    subscription = subscribe(user, browser, service.endpoint())
    row = notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    (job,) = push_jobs()
    assert job.key == f"{row.pk}:{subscription['id']}"
    assert run_pushes() == [job.key]

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
    assert push_jobs().get().status == "done"
    assert run_pushes() == [] and len(service.requests) == 1  # nothing twice


def test_a_410_deletes_the_subscription_and_the_push_is_done(service, browser):
    user = UserFactory()
    subscribe(user, browser, service.endpoint())
    service.answer(410)
    notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    notify(user, "another", link=PUSHED_LINK)
    run_pushes()
    assert not PushSubscription.objects.exists()
    assert len(service.requests) == 1  # the second push found its browser gone
    assert set(push_jobs().values_list("status", flat=True)) == {"done"}


@pytest.mark.parametrize("form", ["seconds", "lower-case name", "HTTP date"])
def test_a_429_is_retried_no_sooner_than_retry_after_then_delivered_once(service, browser, form):
    user = UserFactory()
    subscribe(user, browser, service.endpoint())
    # Whole seconds, read after the push's round trip: a margin of a few.
    in_125 = email.utils.formatdate(time.time() + 125, usegmt=True)
    # HTTP/2 writes every header's name in lower case.
    header = {"seconds": ("Retry-After", "120"), "lower-case name": ("retry-after", "120")}
    name, value = header.get(form, ("Retry-After", in_125))
    service.answer(429, **{name: value})
    notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    assert run_pushes() == []
    job = push_jobs().annotate(now=Now()).get()
    assert (job.status, job.attempts) == ("pending", 1)
    assert job.last_error.startswith("PushNotSent: 429 from the push service")
    assert job.due_at >= job.now + timedelta(seconds=119)
    assert run_pushes() == []  # not yet
    assert len(service.requests) == 1

    due_now(push_jobs())
    assert len(run_pushes()) == 1
    assert len(service.requests) == 2
    assert push_jobs().get().status == "done"


@pytest.mark.parametrize("status", [401, 403, 413])
def test_a_refusal_that_retrying_cannot_fix_is_not_retried(service, browser, status):
    user = UserFactory()
    subscribe(user, browser, service.endpoint())
    service.answer(status)
    notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    run_pushes()
    due_now(push_jobs())
    run_pushes()
    assert len(service.requests) == 1
    job = push_jobs().get()
    assert job.status == "failed"
    assert job.last_error.startswith(f"PushRefused: {status} from the push service")
    assert PushSubscription.objects.exists()  # the browser may still be fine


def test_push_turned_off_for_a_kind_stops_push_only_for_that_kind(service, browser):
    user = UserFactory()
    subscribe(user, browser, service.endpoint())
    client_for(user).put(
        "/api/notifications/preferences/", {"message": {"push": False}}, format="json"
    )
    notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    assert not push_jobs().exists()
    client_for(user).put(
        "/api/notifications/preferences/", {"order_placed": {"push": True}}, format="json"
    )
    notify(user, "Order #8 confirmed", kind="order_placed", link=PUSHED_LINK)
    assert len(run_pushes()) == 1
    assert [r.payload["body"] for r in service.requests] == ["Order #8 confirmed"]


def test_push_turned_off_before_the_push_goes_out_is_heeded(service, browser):
    user = UserFactory()
    subscribe(user, browser, service.endpoint())
    notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    client_for(user).put(
        "/api/notifications/preferences/", {"message": {"push": False}}, format="json"
    )
    assert len(run_pushes()) == 1
    assert service.requests == []


def test_a_notification_read_before_its_push_goes_out_is_not_pushed(service, browser):
    user = UserFactory()
    subscribe(user, browser, service.endpoint())
    row = notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    client_for(user).post(f"/api/notifications/{row.pk}/read/")
    assert len(run_pushes()) == 1
    assert service.requests == []
    assert push_jobs().get().status == "done"


def test_a_notification_older_than_the_plan_window_is_not_pushed(service, browser):
    """A push held up past the window (retried, or its workers away): the person sees it
    in the app instead."""
    user = UserFactory()
    subscribe(user, browser, service.endpoint())
    row = notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    Notification.objects.filter(pk=row.pk).update(
        created_at=row.created_at - push.PLAN_WINDOW - timedelta(seconds=1)
    )
    assert len(run_pushes()) == 1
    assert service.requests == []


def test_each_of_a_persons_browsers_gets_it_once(service, browser):
    user = UserFactory()
    subscribe(user, browser, service.endpoint("laptop"))
    subscribe(user, browser, service.endpoint("phone"))
    subscribe(user, browser, service.endpoint("phone"))  # re-subscribed: the same row
    notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    assert len(run_pushes()) == 2
    assert sorted(r.path for r in service.requests) == ["/push/laptop", "/push/phone"]
    assert run_pushes() == [] and len(service.requests) == 2


def test_a_notification_enqueues_its_pushes_in_its_transaction_once_anyone_subscribed(
    vapid, browser
):
    """No subscription anywhere: nothing is read nor written for push. Once someone has
    one, a notification of theirs writes a push job per browser with it, and one rolled
    back writes none; a person without a browser gets none."""
    from django.db import transaction

    from notifications.services import inbox

    push.anyone_subscribed.expire()
    user, other = UserFactory(), UserFactory()
    notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
    assert not push_jobs().exists()

    subscription = subscribe(user, browser, "http://127.0.0.1:9/push/device-1")
    with pytest.raises(RuntimeError), transaction.atomic():
        inbox.notifications_create(recipient_ids=[user.pk], kind="message", message="gone")
        assert push_jobs().exists()
        raise RuntimeError("the order rolled back")
    assert not push_jobs().exists()
    assert not Notification.objects.filter(message="gone").exists()

    with transaction.atomic():
        rows = inbox.notifications_create(
            recipient_ids=[user.pk, other.pk], kind="message", message="hi"
        )
    mine = next(row for row in rows if row.recipient_id == user.pk)
    assert list(push_jobs().values_list("key", flat=True)) == [f"{mine.pk}:{subscription['id']}"]


def test_the_pushes_go_from_the_default_queue():
    assert app.amqp.router.route({}, "notifications.send_push")["queue"].name == "default"


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
        notify(user, PUSHED_MESSAGE, link=PUSHED_LINK)
        started = time.monotonic()
        assert run_pushes() == []
        assert 2.0 <= time.monotonic() - started <= 4.0
    job = push_jobs().get()
    assert (job.status, job.attempts) == ("pending", 1)
    assert "DeadlineExceeded: the push to subscription " in job.last_error
