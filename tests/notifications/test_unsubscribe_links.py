"""The unsubscribe link of notification emails: opening it only asks (mail scanners fetch
links); the page's button or a mail client's one-click POST (RFC 8058) turns that kind's
email off, once."""

import pytest
from django.test import Client

from notifications import digests
from notifications.models import Notification
from notifications.unsubscribe_links import unsubscribe_url
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.jobs import jobs_run
from tests.support.notifications import EMAIL_DUE_MINUTES, notify
from tests.support.smtp import unsubscribe_link

pytestmark = pytest.mark.django_db

PREFERENCES = "/api/notifications/preferences/"


def link_path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def email_on(user, kind: str = "order_placed") -> bool:
    return client_for(user).get(PREFERENCES).json()[kind]["email"]


def test_opening_the_link_asks_and_changes_nothing():
    user = UserFactory()
    path = link_path(unsubscribe_url(user_id=user.pk, kind="order_placed"))

    for _ in range(2):  # a scanner, then the person
        page = Client().get(path)
        assert page.status_code == 200
        assert b'<form method="post">' in page.content
        assert b"Order placed" in page.content
    assert email_on(user)


def test_the_pages_button_unsubscribes_once():
    user = UserFactory()
    path = link_path(unsubscribe_url(user_id=user.pk, kind="order_placed"))

    done = Client(enforce_csrf_checks=True).post(path)
    assert done.status_code == 200 and b'data-ok="1"' in done.content
    assert client_for(user).get(PREFERENCES).json()["order_placed"] == {
        "in_app": True,
        "email": False,
        "push": False,
    }
    assert Client().post(path).status_code == 400  # once
    assert Client().get(path).status_code == 400  # and says so when opened again


def test_a_mail_clients_one_click_post_to_the_emails_header_unsubscribes(smtp_server):
    user = UserFactory(email="ann@example.com")
    notify(user, "Order #4 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES + 1)
    jobs_run(digests.DIGEST_KIND)
    (digest,) = smtp_server.messages
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    answer = Client(enforce_csrf_checks=True).post(
        link_path(unsubscribe_link(digest)), {"List-Unsubscribe": "One-Click"}
    )
    assert answer.status_code == 200
    assert not email_on(user)
    later = notify(user, "Order #5 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    assert len(jobs_run(digests.DIGEST_KIND)) == 1  # its own digest: done, nothing to send
    assert len(smtp_server.messages) == 1
    assert Notification.objects.get(pk=later.pk).emailed_at is None


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_forged_link_is_refused_and_changes_nothing(method):
    user = UserFactory()
    path = link_path(unsubscribe_url(user_id=user.pk, kind="order_placed"))
    forged = path[:-3] + ("xx/" if not path.endswith("xx/") else "yy/")

    answer = getattr(Client(), method)(forged)
    assert answer.status_code == 400 and b'data-ok="0"' in answer.content
    assert email_on(user)


def test_a_link_for_an_email_that_cannot_be_turned_off_is_refused():
    user = UserFactory()
    path = link_path(unsubscribe_url(user_id=user.pk, kind="new_device_login"))

    assert Client().get(path).status_code == 400
    assert Client().post(path).status_code == 400
    assert client_for(user).get(PREFERENCES).json()["new_device_login"]["email"]
