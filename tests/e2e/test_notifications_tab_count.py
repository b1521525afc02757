"""The tab's badge is the server's unread count, whatever order the counts reach it in: a
page read before notifications were written and answered after their frames, commits that
land out of id order, a read-all answered after a notification written during it. The
real web process, channel layer and Chromium; the tab's answers held and released by the
test (tests.support.tab.AnswersHeld), so each order happens every run."""

import re

import pytest

from notifications.models import Notification
from tests.support.notifications import notified_out_of_id_order, notify
from tests.support.tab import (
    AnswersHeld,
    tab_badge,
    tab_items,
    tab_live_over,
    tab_opened,
    tab_settled,
)

pytestmark = pytest.mark.django_db(transaction=True)

LIST = re.compile(r".*/api/notifications/$")
READ_ALL = re.compile(r".*/api/notifications/read-all/$")


def servers_count(user) -> int:
    return Notification.objects.filter(recipient=user, is_read=False).count()


def shown(page, *messages) -> None:
    for message in messages:
        tab_items(page, message).wait_for(timeout=10_000)


@pytest.mark.postgres  # commits out of id order: SQLite has one writer at a time
def test_notifications_written_between_the_pages_read_and_the_sockets_leave_the_servers_count(
    web, browser, shopper
):
    process = web()
    page = browser.new_page()
    pages = AnswersHeld(page, LIST)
    notify(shopper, "Before the tab opened.")
    tab_opened(page, process.base, shopper)

    pages.asked()  # the first page, read: one unread
    notify(shopper, "After the page's read.")  # the socket's catch-up brings it
    assert pages.release()["unread"] == 1
    tab_live_over(page, "websocket")
    shown(page, "After the page's read.")

    pages.asked()  # the page asked again as the socket opened, read: two unread
    notified_out_of_id_order(shopper, slow="Committed last.", fast="Committed first.")
    shown(page, "Committed last.", "Committed first.")  # live, with their counts
    stale = pages.release()  # read before both, delivered after them
    tab_settled(page)

    assert stale["unread"] == 2
    assert tab_badge(page) == servers_count(shopper) == 4


def test_notifications_written_during_a_read_all_leave_the_servers_count(web, browser, shopper):
    process = web()
    page = browser.new_page()
    notify(shopper, "Seen.")
    marks = AnswersHeld(
        page, READ_ALL, method="POST", before=lambda: notify(shopper, "Before the mark.")
    )
    tab_opened(page, process.base, shopper)
    tab_live_over(page, "websocket")
    shown(page, "Seen.")
    tab_settled(page)

    page.get_by_role("button", name="Mark all read").click()
    marks.asked()  # marked up to what the tab showed: "Before the mark." stays unread
    notify(shopper, "After the mark.")
    shown(page, "Before the mark.", "After the mark.")
    answer = marks.release()  # its count read before "After the mark."
    tab_settled(page)

    assert (answer["marked"], answer["unread"]) == (1, 1)
    assert tab_badge(page) == servers_count(shopper) == 2
