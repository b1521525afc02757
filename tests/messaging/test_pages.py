"""The conversation on the customer's order page: the messages of both sides, a form to
write one (staff told), the staff's marked read once shown, and the read receipts of the
customer's own; a notification about a staff message links to it."""

import pytest
from django.test import Client

from messaging.models import Message
from messaging.services import message_post
from notifications.models import Notification
from store.models import Order
from tests.factories import UserFactory
from tests.support.orders import place_order

pytestmark = pytest.mark.django_db

# What a browser sends with a page it only loads ahead.
PREFETCH = {"Sec-Purpose": "prefetch"}


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_the_order_page_holds_the_conversation_and_its_read_receipts(customer):
    order_id = place_order(customer)["id"]
    staff = UserFactory(is_staff=True, is_superuser=True, username="sam")
    browser = signed_in(customer.user)

    posted = browser.post(f"/account/orders/{order_id}/messages/", {"body": "Where is it?"})
    [question] = Message.objects.all()
    assert posted["Location"] == f"/account/orders/{order_id}/#message-{question.pk}"
    assert Notification.objects.filter(recipient=staff, kind="message").exists()

    signed_in(staff).get(f"/admin/messaging/message/?order={order_id}")  # staff read it
    answer = message_post(order=Order.objects.get(pk=order_id), author=staff, body="On its way")
    [told] = Notification.objects.filter(recipient=customer.user, kind="message")
    assert told.link == f"/account/orders/{order_id}/#message-{answer.pk}"

    page = browser.get(f"/account/orders/{order_id}/").content.decode()
    assert f'id="message-{answer.pk}"' in page and "On its way" in page
    assert "<strong>Shopflow</strong>" in page and "<strong>sam" not in page  # no staff login
    assert "Where is it?" in page and "data-read" in page  # the customer's, read by staff
    answer.refresh_from_db()
    assert answer.read_at is not None  # shown to the customer: read


@pytest.mark.parametrize(
    "header", [PREFETCH, {"Sec-Purpose": "prefetch;prerender"}, {"Purpose": "prefetch"}]
)
def test_a_page_the_browser_only_loads_ahead_marks_nothing_read(customer, header):
    order_id = place_order(customer)["id"]
    staff = UserFactory(is_staff=True)
    answer = message_post(order=Order.objects.get(pk=order_id), author=staff, body="Shipped")
    browser = signed_in(customer.user)

    ahead = browser.get(f"/account/orders/{order_id}/", headers=header)
    assert ahead.status_code == 200 and "Shipped" in ahead.content.decode()
    answer.refresh_from_db()
    assert answer.read_at is None
    browser.get(f"/account/orders/{order_id}/")  # the person opens it
    answer.refresh_from_db()
    assert answer.read_at is not None


def test_an_empty_message_or_another_persons_order_is_refused(customer):
    order_id = place_order(customer)["id"]
    browser = signed_in(customer.user)

    empty = browser.post(f"/account/orders/{order_id}/messages/", {"body": "  "}, follow=True)
    assert "A message cannot be empty." in empty.content.decode()
    other = signed_in(UserFactory()).post(f"/account/orders/{order_id}/messages/", {"body": "hi"})
    assert other.status_code == 404
    assert Message.objects.count() == 0


def test_a_message_with_a_nul_character_is_refused_in_words(customer):
    order_id = place_order(customer)["id"]
    refused = signed_in(customer.user).post(
        f"/account/orders/{order_id}/messages/", {"body": "a\x00b"}, follow=True
    )
    assert refused.status_code == 200 and "cannot contain NUL" in refused.content.decode()
    assert Message.objects.count() == 0


def test_staff_read_the_orders_messages_in_the_admin_and_answer_as_themselves(customer):
    order_id = place_order(customer)["id"]
    staff = UserFactory(is_staff=True, is_superuser=True, username="sam")
    question = message_post(order=Order.objects.get(pk=order_id), author=customer.user, body="?")
    admin = signed_in(staff)

    listed = admin.get(f"/admin/messaging/message/?order={order_id}")  # the notification's link
    assert listed.status_code == 200 and f"/admin/messaging/message/{question.pk}/" in (
        listed.content.decode()
    )
    question.refresh_from_db()
    assert question.read_at is not None  # shown to staff: read, its receipt sent
    form = admin.get("/admin/messaging/message/add/").content.decode()
    assert 'name="order"' in form and 'name="author"' not in form  # the author: who saves
    saved = admin.post("/admin/messaging/message/add/", {"order": order_id, "body": "Yes."})

    assert saved.status_code == 302
    assert Message.objects.get(body="Yes.").author == staff
    assert Notification.objects.filter(recipient=customer.user, kind="message").exists()


def test_the_admins_messages_of_no_order_a_bad_one_or_not_shown_mark_nothing_read(customer):
    order_id = place_order(customer)["id"]
    question = message_post(order=Order.objects.get(pk=order_id), author=customer.user, body="?")
    admin = signed_in(UserFactory(is_staff=True, is_superuser=True))

    for query in ("", "?order=999999", "?order=x", f"?order={order_id}0"):
        assert admin.get(f"/admin/messaging/message/{query}").status_code in (200, 302)
    no_permission = signed_in(UserFactory(is_staff=True))  # staff without the admin's
    assert no_permission.get(f"/admin/messaging/message/?order={order_id}").status_code == 403
    ahead = admin.get(f"/admin/messaging/message/?order={order_id}", headers=PREFETCH)
    assert ahead.status_code == 200  # shown to no one yet
    question.refresh_from_db()
    assert question.read_at is None
