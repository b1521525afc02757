"""The notifications tab's settings in a real browser: each kind's channels, Web Push on
and off on this device, the service worker showing a push, and logout ending this
browser's push subscription (a shared browser)."""

import time

import pytest
from django.db import transaction

from notifications import push, selectors
from notifications.models import PushSubscription
from notifications.services import inbox
from tests.support.jobs import jobs_run
from tests.support.notifications import notify
from tests.support.push import BrowserKeys, PushService
from tests.support.tab import (
    push_delivered,
    push_turned_on,
    service_worker_registered,
    status_says,
    tab_opened,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def vapid(settings) -> dict:
    """A VAPID key pair for a web process's environment, and this process's settings (the
    test sends the pushes); loopback endpoints allowed (the tests' push service)."""
    from tests.support.push import vapid_key_pair

    settings.VAPID_PRIVATE_KEY, settings.VAPID_PUBLIC_KEY = private, public = vapid_key_pair()
    settings.SHOPFLOW_PUSH_ALLOW_LOOPBACK = True
    return {
        "VAPID_PRIVATE_KEY": private,
        "VAPID_PUBLIC_KEY": public,
        "SHOPFLOW_PUSH_ALLOW_LOOPBACK": "1",
    }


def notified(user, message: str) -> None:
    # The web process made the subscription: this process may hold "no one subscribed".
    push.anyone_subscribed.expire()
    with transaction.atomic():
        inbox.notifications_create(recipient_ids=[user.pk], kind="message", message=message)


def test_turning_email_off_on_the_tab_saves_that_preference_only(web, browser, shopper):
    process = web()
    page = browser.new_page()
    tab_opened(page, process.base, shopper)
    box = page.get_by_label("Messages: Email")
    box.wait_for(timeout=10_000)
    assert box.is_checked()
    # A click, not uncheck(): the box is drawn from the query's data, which the tab sets
    # after the click's event (TanStack Query notifies on a later task), and uncheck()
    # reads the box once, right after its click, on a loaded machine before that.
    box.click()
    status_says(page, "Preferences", "Saved.")
    assert not box.is_checked()
    prefs = selectors.preferences_for(user=shopper)
    assert prefs["message"] == {"in_app": True, "email": False, "push": True}
    assert prefs["order_placed"]["email"] is True
    page.reload()
    page.get_by_label("Messages: Email").wait_for(timeout=10_000)
    assert not page.get_by_label("Messages: Email").is_checked()


def test_a_channel_that_cannot_be_turned_off_is_checked_again_with_the_servers_reason(
    web, browser, person
):
    process, staff = web(), person(is_staff=True)
    page = browser.new_page()
    tab_opened(page, process.base, staff)
    box = page.get_by_label("Failed side effects (staff): In the app")
    box.wait_for(timeout=10_000)
    box.click()
    status_says(page, "Preferences", "Not saved: HTTP 400")
    assert box.is_checked()
    assert selectors.preferences_for(user=staff)["side_effect_failed"]["in_app"] is True


def test_the_service_worker_shows_a_pushed_notification_with_its_title_and_link(
    web, browser, shopper
):
    process = web()
    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=process.base)
    page = context.new_page()
    tab_opened(page, process.base, shopper)
    cdp, registration = service_worker_registered(context, page, process.base)
    row = notify(shopper, "Shipped today.", link="/api/orders/7/messages/")
    push_delivered(cdp, process, registration, push.push_payload(row))
    page.wait_for_function(
        "navigator.serviceWorker.ready.then(r => r.getNotifications())"
        ".then(list => list.length > 0)",
        timeout=10_000,
    )
    shown = page.evaluate(
        "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(list =>"
        " list.map(n => ({title: n.title, body: n.body, url: n.data.url, tag: n.tag})))"
    )
    assert shown == [
        {
            "title": "New message",
            "body": "Shipped today.",
            "url": "/api/orders/7/messages/",
            "tag": f"notification-{row.pk}",
        }
    ]
    context.close()


def test_push_turned_on_then_off_on_the_tab_ends_this_browsers_subscription(
    web, browser, shopper, vapid
):
    keys = BrowserKeys()
    with PushService(keys, vapid["VAPID_PUBLIC_KEY"]) as service:
        process = web(**vapid)
        page = push_turned_on(browser, process, shopper, keys.subscription(service.endpoint()))
        notified(shopper, "While on.")
        assert len(jobs_run(push.PUSH_KIND)) == 1
        assert service.requests[0].payload["body"] == "While on."

        page.reload()  # the tab knows this browser is subscribed
        page.get_by_role("button", name="Stop notifying me on this device").click()
        status_says(page, "Web Push on this device", "This device gets no push notifications.")
        assert not PushSubscription.objects.exists()
        held = "navigator.serviceWorker.ready.then(r => r.pushManager.getSubscription())"
        assert page.evaluate(held + ".then(s => s && s.endpoint)") is None
        notified(shopper, "After it was turned off.")
        assert jobs_run(push.PUSH_KIND) == []
        assert len(service.requests) == 1
        page.context.close()


def test_logging_out_ends_this_browsers_push_so_the_next_person_gets_none_of_the_first_ones(
    web, browser, shopper, person, vapid
):
    """A shared browser: the first person turns push on and logs out on the tab, the next
    one logs in there. The tab unsubscribed the browser and the server deleted its row,
    so a notification for the first person is pushed nowhere."""
    nextcomer = person()
    keys = BrowserKeys()
    with PushService(keys, vapid["VAPID_PUBLIC_KEY"]) as service:
        process = web(**vapid)
        page = push_turned_on(browser, process, shopper, keys.subscription(service.endpoint()))
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        assert PushSubscription.objects.get().user == shopper
        notified(shopper, "While logged in.")
        assert len(jobs_run(push.PUSH_KIND)) == 1  # this browser gets their pushes

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(f"{process.base}/account/login/", timeout=10_000)
        assert not PushSubscription.objects.exists()
        held = "navigator.serviceWorker.ready.then(r => r.pushManager.getSubscription())"
        assert page.evaluate(held + ".then(s => s && s.endpoint)") is None  # unsubscribed

        tab_opened(page, process.base, nextcomer)
        notified(shopper, "After they logged out.")
        assert jobs_run(push.PUSH_KIND) == []
        assert len(service.requests) == 1
        assert errors == []
        page.context.close()


def test_an_unsubscribe_that_never_answers_holds_the_logout_up_for_3_seconds_at_most(
    web, browser, shopper, vapid
):
    process = web(**vapid)
    subscription = BrowserKeys().subscription("http://127.0.0.1:9/push/unreachable")
    page = push_turned_on(browser, process, shopper, subscription, unsubscribe_hangs=True)
    started = time.monotonic()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{process.base}/account/login/", timeout=10_000)
    assert time.monotonic() - started >= 2.5  # it did wait for the unsubscribe
    assert not PushSubscription.objects.exists()
    page.context.close()
