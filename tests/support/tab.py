"""The React notifications tab (frontend/) in a real browser, its parts found as people
find them (by role and accessible name): opening it as a person, blocking its transports
as a proxy would, and Web Push as the tests can have it."""

import json
import re

from tests.support import PROJECT_DIR
from tests.support.clients import PASSWORD, browser_log_in
from tests.support.parts import part_missing
from tests.support.stack import REQUEST_TIMEOUT

TAB = "/account/notifications/"
# What `make frontend` builds and the web process serves as the tab (STATICFILES_DIRS).
BUILT = PROJECT_DIR / "frontend" / "dist" / "notifications.js"
# What the tab's "Live updates" status says over each transport.
SAYS = {"websocket": "live (WebSocket)", "sse": "live (Server-Sent Events)", "polling": "checking"}


def tab_built() -> None:
    """Without the tab's build the page shows no tab, and a test would fail on whatever it
    looks for first: the test is skipped (failed in CI) saying so instead."""
    if not BUILT.exists():
        part_missing("the notifications tab is not built (frontend/dist/): make frontend")


def tab_opened(page, base: str, user) -> None:
    """`user` (whose password is PASSWORD) logs in and lands on the tab."""
    tab_built()
    browser_log_in(page, f"{base}{TAB}", username=user.username, password=PASSWORD)


def tab_live_over(page, transport: str) -> None:
    """Wait until the tab says it is live over `transport`: websocket, sse or polling."""
    from playwright.sync_api import expect

    expect(live_status(page)).to_contain_text(SAYS[transport], timeout=15_000)


def live_status(page):
    return page.get_by_role("status", name="Live updates")


def tab_items(page, text: str | None = None):
    """The list's items (those with `text`)."""
    items = page.get_by_role("list", name="Notifications").get_by_role("listitem")
    return items if text is None else items.filter(has_text=text)


def tab_badge(page) -> int:
    """The count the bell shows (hidden at 0)."""
    badge = page.get_by_role("status", name=re.compile(r"^\d+ unread$"), include_hidden=True)
    return int(badge.text_content(timeout=5_000) or 0)


def tab_settled(page) -> None:
    """Wait until no page of the list and no mark is on its way (what came is shown)."""
    from playwright.sync_api import expect

    busy = page.get_by_role("list", name="Notifications")
    expect(busy).to_have_attribute("aria-busy", "false", timeout=10_000)


def tab_title_becomes(page, title: str) -> None:
    """Wait (5 s at most) for the title the tab sets in an effect, just after it renders
    the list a test waited for."""
    page.wait_for_function("title => document.title === title", arg=title, timeout=5_000)


def websockets_blocked(page) -> None:
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


def stream_blocked(page) -> None:
    page.route("**/api/notifications/stream/**", lambda route: route.abort())


def push_turned_on(browser, process, user, subscription: dict, **stand_in):
    """A page of a new browser context where `user` opened the tab and turned push on
    with its button (the browser's PushManager handing out `subscription`)."""
    from tests.support.push import browser_push_stand_in

    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=process.base)
    context.add_init_script(browser_push_stand_in(subscription, **stand_in))
    page = context.new_page()
    tab_opened(page, process.base, user)
    page.get_by_role("button", name="Notify me on this device").click()
    status_says(page, "Web Push on this device", "This device gets push notifications.")
    return page


def status_says(page, name: str, text: str) -> None:
    """Wait until the status line `name` says `text`."""
    from playwright.sync_api import expect

    expect(page.get_by_role("status", name=name)).to_have_text(text, timeout=10_000)


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


def push_delivered(cdp, process, registration, payload: dict) -> None:
    """A push message delivered to the page's service worker through DevTools, with the
    payload the server would send (headless Chromium has no push service)."""
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": process.base,
            "registrationId": registration["registrationId"],
            "data": json.dumps(payload),
        },
    )


def tab_script_fetched(session, base: str):
    """The tab's script as its page names it (collectstatic's hashed name, DEBUG off), for
    a logged-in `session` (requests), fetched: the response."""
    page = session.get(f"{base}{TAB}", timeout=REQUEST_TIMEOUT)
    assert page.url.endswith(TAB), page.url
    [script] = re.findall(r'src="(/static/frontend/notifications\.[0-9a-f]{12}\.js)"', page.text)
    served = session.get(f"{base}{script}", timeout=REQUEST_TIMEOUT)
    assert served.status_code == 200
    assert "javascript" in served.headers["Content-Type"]
    assert "immutable" in served.headers["Cache-Control"]  # WhiteNoise, for hashed names
    assert b"/ws/notifications/" in served.content  # the tab's own code
    assert b"last_event_id" in served.content
    return served


class AnswersHeld:
    """The tab's `method` requests to `url` (a regex) reach the server when they are made
    (the server reads then), and their answers reach the tab only when the test releases
    them: an answer read before something else happened, delivered after it. `before`, if
    given, runs as each is asked, before the server reads."""

    def __init__(self, page, url, *, method: str = "GET", before=None):
        self.page, self.method, self.before = page, method, before
        self.waiting: list = []  # (route, the server's response), oldest first
        self.released: list[dict] = []
        page.route(url, self._hold)

    def _hold(self, route) -> None:
        if route.request.method != self.method:
            route.fallback()
            return
        if self.before:
            self.before()
        self.waiting.append((route, route.fetch()))

    def asked(self, count: int = 1) -> None:
        """Wait until `count` are held."""
        page_until(self.page, lambda: len(self.waiting) >= count, what=f"{count} held")

    def release(self) -> dict:
        """Hand the oldest held answer to the tab; what it said."""
        route, response = self.waiting.pop(0)
        route.fulfill(response=response)
        self.released.append(response.json())
        return self.released[-1]


def page_until(page, predicate, *, timeout: float = 10.0, what: str = "") -> None:
    """Wait for `predicate()`, the page's events (its route handlers) running meanwhile."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        page.wait_for_timeout(20)  # the polling interval: Playwright dispatches meanwhile
