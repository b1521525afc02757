"""The notifications page in a real browser (the machine's Chromium, driven by
Playwright) against a web process served as in production: log in, keep the page open,
place an order from another session, and watch the notification arrive without a reload."""

import re

import pytest

from notifications.models import Notification
from tests.factories import UserFactory, cart_with
from tests.support.clients import browser_log_in, client_for
from tests.support.notifications import notify

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-browser-password-1"


@pytest.fixture
def shopper(settings):
    # A hash the web process can check (the tests' own hasher is a fast one).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = UserFactory()
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(page, base, user):
    browser_log_in(
        page, f"{base}/account/notifications/", username=user.username, password=PASSWORD
    )


def test_an_order_placed_elsewhere_appears_live_and_marking_it_read_drops_the_count(
    web, browser, shopper, product
):
    process = web()
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, process.base, shopper)
    page.wait_for_selector("#live[data-transport=websocket]", timeout=15_000)
    assert page.inner_text("#live") == "live (WebSocket)"
    assert page.title() == "Notifications · Shopflow"
    assert page.locator("#notifications li").count() == 0

    # Another session (the API, with the user's token) places an order.
    cart = cart_with(shopper.customer, (product, 2))
    response = client_for(shopper).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
    assert response.status_code == 201
    order_id = response.json()["id"]

    item = page.locator("#notifications li", has_text=f"Order #{order_id} confirmed")
    item.wait_for(timeout=10_000)  # no reload: it came over the stream
    assert "unread" in item.get_attribute("class")
    assert page.title() == "(1) Notifications · Shopflow"
    assert page.inner_text("#unread-badge") == "1"

    item.locator("button.mark-read").click()
    page.wait_for_function("document.title === 'Notifications · Shopflow'", timeout=5_000)
    assert page.get_attribute("#unread-badge", "data-count") == "0"
    assert Notification.objects.get(recipient=shopper).is_read

    # A second one, then "mark all read".
    cart = cart_with(shopper.customer, (product, 1))
    client_for(shopper).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
    page.wait_for_function("document.title.startsWith('(1) ')", timeout=10_000)
    page.click("#mark-all-read")
    page.wait_for_function("document.title === 'Notifications · Shopflow'", timeout=5_000)
    assert not Notification.objects.filter(recipient=shopper, is_read=False).exists()
    assert errors == []


def test_the_page_shows_what_came_before_it_was_opened(web, browser, shopper, product):
    process = web()
    cart = cart_with(shopper.customer, (product, 1))
    client_for(shopper).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
    page = browser.new_page()
    log_in(page, process.base, shopper)
    page.wait_for_selector("#notifications li")
    assert re.match(r"Order #\d+ confirmed", page.inner_text("#notifications li .text"))
    assert page.title() == "(1) Notifications · Shopflow"


def block_websockets(page) -> None:
    """The page's WebSockets fail their handshake for real, as behind a proxy that refuses
    them: each goes to a port where nothing listens."""
    from devstack.stack import free_port

    page.add_init_script(
        """(() => {
          const Real = window.WebSocket;
          window.WebSocket = function (url, protocols) {
            const blocked = new URL(url, location.href);
            blocked.port = "PORT";
            return new Real(blocked, protocols);
          };
          Object.assign(window.WebSocket, Real);
          window.WebSocket.prototype = Real.prototype;
        })();""".replace("PORT", str(free_port()))
    )


def block_the_stream(page) -> None:
    page.route("**/api/notifications/stream/**", lambda route: route.abort())


def test_with_websockets_blocked_the_page_falls_back_to_server_sent_events(
    web, browser, shopper, product
):
    process = web()
    page = browser.new_page()
    block_websockets(page)
    log_in(page, process.base, shopper)
    page.wait_for_selector("#live[data-transport=sse]", timeout=15_000)
    assert page.inner_text("#live") == "live (Server-Sent Events)"
    cart = cart_with(shopper.customer, (product, 1))
    client_for(shopper).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
    page.wait_for_selector("#notifications li", timeout=10_000)  # over the stream


def test_with_websockets_and_the_stream_blocked_the_page_polls(web, browser, shopper, product):
    process = web()
    page = browser.new_page()
    block_websockets(page)
    block_the_stream(page)
    page.clock.install()
    log_in(page, process.base, shopper)
    # Both refused, so polling has started (a poll started after run_for below would
    # come 10 s later, as late as the wait).
    page.wait_for_selector("#live[data-transport=polling]", timeout=15_000)
    assert "checking every 10 s" in page.inner_text("#live")
    cart = cart_with(shopper.customer, (product, 1))
    client_for(shopper).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
    page.clock.run_for(11_000)  # past the 10 s poll
    page.wait_for_selector("#notifications li", timeout=10_000)
    assert page.title().startswith("(1) ")


def test_turning_email_off_on_the_page_saves_that_preference_only(web, browser, shopper):
    from notifications import selectors

    process = web()
    page = browser.new_page()
    log_in(page, process.base, shopper)
    box = page.locator("input[name='message.email']")
    box.wait_for(timeout=10_000)
    assert box.is_checked()
    box.uncheck()
    page.wait_for_selector("#preferences-status:has-text('Saved.')", timeout=10_000)
    prefs = selectors.preferences_for(user=shopper)
    assert prefs["message"] == {"in_app": True, "email": False, "push": True}
    assert prefs["order_placed"]["email"] is True
    page.reload()
    page.locator("input[name='message.email']").wait_for(timeout=10_000)
    assert not page.locator("input[name='message.email']").is_checked()


def test_the_service_worker_shows_a_pushed_notification_with_its_title_and_link(
    web, browser, shopper
):
    """Headless Chromium cannot subscribe to a real push service: the push is delivered
    to the page's service worker through the DevTools protocol, with the payload the
    server would send."""
    import json

    from notifications import push

    process = web()
    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=process.base)
    page = context.new_page()
    log_in(page, process.base, shopper)
    cdp, registration = service_worker_registered(context, page, process.base)
    row = notify(shopper, "Shipped today.", link="/api/orders/7/messages/")
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": process.base,
            "registrationId": registration["registrationId"],
            "data": json.dumps(push.push_payload(row)),
        },
    )
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


def push_turned_on(browser, process, user, subscription: dict, **stand_in):
    """A page of a new browser context where `user` logged in and turned push on with the
    page's button (the browser's PushManager handing out `subscription`)."""
    from tests.support.push import browser_push_stand_in

    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=process.base)
    context.add_init_script(browser_push_stand_in(subscription, **stand_in))
    page = context.new_page()
    log_in(page, process.base, user)
    page.click("#push-subscribe")
    page.wait_for_selector("#push-status:has-text('This device gets push')", timeout=10_000)
    return page


def test_logging_out_ends_this_browsers_push_so_the_next_person_gets_none_of_the_first_ones(
    web, browser, shopper, vapid
):
    """A shared browser: the first person turns push on and logs out on the page, the next
    one logs in there. The page unsubscribed the browser and the server deleted its row,
    so a notification for the first person is pushed nowhere."""
    from django.db import transaction

    from notifications import push
    from notifications.models import PushSubscription
    from notifications.services import inbox
    from tests.support.push import BrowserKeys, PushService

    def notify_first_person(message):
        with transaction.atomic():
            inbox.notifications_create(recipient_ids=[shopper.pk], kind="message", message=message)

    nextcomer = UserFactory()
    nextcomer.set_password(PASSWORD)
    nextcomer.save()
    keys = BrowserKeys()
    with PushService(keys, vapid["VAPID_PUBLIC_KEY"]) as service:
        process = web(**vapid)
        page = push_turned_on(browser, process, shopper, keys.subscription(service.endpoint()))
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        assert PushSubscription.objects.get().user == shopper
        notify_first_person("While logged in.")
        assert push.pushes_send() == 1  # this browser gets their pushes
        assert service.requests[0].payload["body"] == "While logged in."

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(f"{process.base}/account/login/", timeout=10_000)
        assert not PushSubscription.objects.exists()
        held = "navigator.serviceWorker.ready.then(r => r.pushManager.getSubscription())"
        assert page.evaluate(held + ".then(s => s && s.endpoint)") is None  # unsubscribed

        log_in(page, process.base, nextcomer)
        notify_first_person("After they logged out.")
        assert push.pushes_send() == 0
        assert len(service.requests) == 1
        assert errors == []
        page.context.close()


def test_an_unsubscribe_that_never_answers_holds_the_logout_up_for_3_seconds_at_most(
    web, browser, shopper, vapid
):
    import time

    from notifications.models import PushSubscription
    from tests.support.push import BrowserKeys

    process = web(**vapid)
    subscription = BrowserKeys().subscription("http://127.0.0.1:9/push/unreachable")
    page = push_turned_on(browser, process, shopper, subscription, unsubscribe_hangs=True)
    started = time.monotonic()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{process.base}/account/login/", timeout=10_000)
    assert time.monotonic() - started >= 2.5  # it did wait for the unsubscribe
    assert not PushSubscription.objects.exists()
    page.context.close()


def test_the_sender_sees_on_the_page_that_the_other_side_read_their_message(
    web, browser, shopper, product
):
    from tests.factories import UserFactory

    process = web()
    staff = UserFactory(is_staff=True)
    staff.set_password(PASSWORD)
    staff.save()
    cart = cart_with(shopper.customer, (product, 1))
    order_id = (
        client_for(shopper)
        .post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
        .json()["id"]
    )
    path = f"/api/orders/{order_id}/messages/"
    client_for(staff).post(path, {"body": "Shipped today."}, format="json")

    page = browser.new_page()
    log_in(page, process.base, staff)
    page.wait_for_selector("#live[data-transport=websocket]", timeout=15_000)
    assert client_for(shopper).post(path + "read/").json() == {"marked": 1}
    page.wait_for_selector(f"#receipt[data-order='{order_id}']", timeout=10_000)
    assert page.inner_text("#receipt").startswith(f"Read: your message about order #{order_id}")


def service_worker_registered(context, page, base) -> tuple:
    """Register the site's service worker in `page`; (a DevTools session, its
    registration as DevTools names it)."""
    cdp = context.new_cdp_session(page)
    registrations = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    page.evaluate("navigator.serviceWorker.register('/sw.js', {scope: '/'})")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")  # active
    return cdp, next(r for r in registrations if r["scopeURL"] == base + "/")
