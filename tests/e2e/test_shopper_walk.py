"""A newcomer's path through the shop in a real browser (the machine's Chromium, driven by
Playwright), against a web process, the dispatcher and a worker started as production
starts them, and a real SMTP server: the front door, the catalog, sign up (and back to
the catalog), two products added, a quantity changed, the checkout, the order page
following its side effects until done, a message to staff answered from the admin and
read on the order page, sign out, a forgotten password reset from the email the SMTP
server received, and a sign-in with the new one. Each page is asserted on what it shows
(roles and labels) and kept as a screenshot in the test's tmp dir."""

import re

import pytest

from tests.support.clients import PASSWORD
from tests.support.processes import DispatcherProcess, WorkerProcess
from tests.support.smtp import body_text

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 800}
NEW_PASSWORD = "a-reset-browser-password-3"
LINK = re.compile(r"https?://\S+/account/password/reset/\S+/\S+/")


class Walk:
    def __init__(self, page, base: str, shots_dir):
        self.page, self.base, self.shots_dir, self.taken = page, base, shots_dir, 0

    def shot(self, step: str) -> None:
        self.taken += 1
        self.page.screenshot(path=str(self.shots_dir / f"{self.taken}-{step}.png"), full_page=True)

    def go(self, path: str) -> None:
        self.page.goto(f"{self.base}{path}")


def signs_up_from_the_catalog(walk: Walk) -> None:
    from playwright.sync_api import expect

    page = walk.page
    walk.go("/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()  # the front door asks
    walk.shot("front-door")
    page.get_by_role("navigation", name="Site").get_by_role("link", name="Shop", exact=True).click()
    expect(page.get_by_role("table", name="Products")).to_be_visible()
    walk.shot("catalog-visitor")
    page.get_by_role("main").get_by_role("link", name="sign up").click()
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    walk.shot("sign-up")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{walk.base}/shop/")  # back where they were


def fills_and_checks_out_a_cart(walk: Walk) -> int:
    """Two products, one quantity changed from the keyboard; the checkout's order id."""
    from playwright.sync_api import expect

    page = walk.page
    page.get_by_label("Quantity of Desk lamp").fill("1")
    page.get_by_role("row", name=re.compile("Desk lamp")).get_by_role("button").click()
    expect(page.get_by_role("status")).to_contain_text("Added 1 x Desk lamp")
    walk.go("/shop/")
    page.get_by_label("Quantity of Enamel mug").fill("2")
    page.get_by_label("Quantity of Enamel mug").press("Enter")  # the keyboard submits
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    quantity = page.get_by_label("Quantity of Desk lamp")
    quantity.fill("3")
    page.get_by_role("row", name=re.compile("Desk lamp")).get_by_role(
        "button", name="Change"
    ).click()
    lines = page.get_by_role("table", name="Lines")
    expect(lines.get_by_role("row", name=re.compile("^Total"))).to_contain_text("67.30 EUR")
    walk.shot("cart")
    page.get_by_role("button", name="Check out").click()
    page.wait_for_url(re.compile(r"/account/orders/\d+/$"))
    return int(re.search(r"/orders/(\d+)/", page.url)[1])


def follows_the_order_until_done(walk: Walk, order_id: int) -> None:
    from playwright.sync_api import expect

    page = walk.page
    expect(page.get_by_role("heading", name=f"Order #{order_id}")).to_be_visible()
    expect(page.get_by_role("status", name="Side effects progress")).to_have_text(
        "All done.", timeout=60_000
    )
    walk.shot("order-done")


def test_a_newcomer_signs_up_orders_talks_to_staff_and_resets_a_forgotten_password(
    web, web_env, browser, person, smtp_server, tmp_path
):
    from playwright.sync_api import expect

    from store.models import Order
    from tests.factories import ProductFactory

    ProductFactory(name="Desk lamp", price="12.50", on_hand=50)
    ProductFactory(name="Enamel mug", price="14.90", on_hand=50)
    staff = person(username="staffer", is_staff=True, is_superuser=True)
    process = web()
    env = {
        **web_env,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        "SHOPFLOW_SITE_URL": process.base,
    }
    dispatcher = DispatcherProcess(env, tmp_path / "dispatcher.log").start()
    worker = WorkerProcess(env, tmp_path / "worker.log", concurrency=1).start()
    page = browser.new_page(viewport=DESKTOP)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    walk = Walk(page, process.base, tmp_path)
    try:
        signs_up_from_the_catalog(walk)
        order_id = fills_and_checks_out_a_cart(walk)
        follows_the_order_until_done(walk, order_id)

        a_message_answered_from_the_admin(walk, browser, staff, order_id)

        page.get_by_role("navigation", name="Site").get_by_role("button", name="Log out").click()
        page.wait_for_url(f"{walk.base}/account/login/")
        resets_a_forgotten_password(walk, smtp_server)
        signs_in_with(walk, "newcomer", NEW_PASSWORD)
        expect(page.get_by_role("link", name=f"Order #{order_id}", exact=True)).to_be_visible()
        walk.shot("signed-in-again")
    finally:
        worker.stop()
        dispatcher.stop()
    assert str(Order.objects.get().total) == "67.30"  # 3 x 12.50 + 2 x 14.90
    assert errors == []


def a_message_answered_from_the_admin(walk: Walk, browser, staff, order_id: int) -> None:
    """The customer writes on the order's page; staff answer in the admin; the answer is on
    the page once reloaded, and read; the customer's message says staff read it."""
    from playwright.sync_api import expect

    from messaging.models import Message

    page = walk.page
    page.get_by_label("Your message").fill("Can you gift wrap the lamp?")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Can you gift wrap the lamp?")).to_be_visible()
    walk.shot("message-sent")
    staff_answers_in_the_admin(browser, walk.base, staff, order_id)
    page.reload()
    expect(page.get_by_text("Yes, gladly.")).to_be_visible()
    question = page.locator("li", has_text="Can you gift wrap the lamp?")
    expect(question.locator("[data-read]")).to_be_visible()  # answered: read
    walk.shot("message-answered")
    answer = Message.objects.get(author=staff)
    assert answer.read_at is not None  # shown to the customer: read


def staff_answers_in_the_admin(browser, base: str, staff, order_id: int) -> None:
    """Staff open the order's messages in the admin, where their notification links (the
    customer's are read once shown), and add the answer (the order by id; they are its
    author)."""
    admin = browser.new_page(viewport=DESKTOP)
    admin.goto(f"{base}/admin/login/")
    admin.get_by_label("Username").fill(staff.username)
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    admin.goto(f"{base}/admin/messaging/message/?order={order_id}")
    admin.get_by_role("link", name="Add message").click()
    admin.locator("#id_order").fill(str(order_id))
    admin.locator("#id_body").fill("Yes, gladly.")
    admin.locator("input[name=_save]").click()
    admin.wait_for_url(re.compile(r"/admin/messaging/message/(\?order=\d+)?$"))  # its filter kept
    admin.close()


def resets_a_forgotten_password(walk: Walk, smtp_server) -> None:
    from playwright.sync_api import expect

    from tests.support.polling import wait_until

    page = walk.page
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("NewComer@example.com")  # any case
    walk.shot("password-reset")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    walk.shot("password-reset-sent")
    emails = wait_until(
        lambda: [m for m in smtp_server.messages if m["Subject"] == "Reset your Shopflow password"],
        timeout=60,
        message="the reset email",
    )
    page.goto(LINK.search(body_text(emails[0]))[0])
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label(re.compile(r"^New password:?$")).fill(NEW_PASSWORD)
    page.get_by_label(re.compile(r"^New password confirmation:?$")).fill(NEW_PASSWORD)
    walk.shot("password-new")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("heading", name="Your new password is set")).to_be_visible()
    walk.shot("password-set")
    page.get_by_role("link", name="Log in").last.click()


def signs_in_with(walk: Walk, username: str, password: str) -> None:
    page = walk.page
    page.get_by_label("Username").fill(username)
    page.get_by_label(re.compile(r"^Password:?$")).fill(password)
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{walk.base}/")
