"""An order's conversation: its customer and staff read and write; anyone else: 404."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from messaging.exceptions import ConversationNotFound
from messaging.models import Message
from messaging.selectors import conversation_order_get
from messaging.services import messages_mark_read
from messaging.signals import message_read
from store.models import Order
from tests.factories import UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.polling import wait_for_a_lock_wait

pytestmark = pytest.mark.django_db


@pytest.fixture
def order_id(user, product):
    cart = cart_with(user.customer, (product, 1))
    response = client_for(user).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
    return response.json()["id"]


def messages_path(order_id) -> str:
    return f"/api/orders/{order_id}/messages/"


def test_customer_and_staff_write_and_read_the_same_conversation(user, order_id):
    staff = UserFactory(is_staff=True)
    customer_client, staff_client = client_for(user), client_for(staff)

    asked = customer_client.post(messages_path(order_id), {"body": "  Gift wrap?  "}, format="json")
    answered = staff_client.post(messages_path(order_id), {"body": "Of course."}, format="json")

    assert asked.status_code == answered.status_code == 201
    assert asked.json()["body"] == "Gift wrap?"
    assert answered.json()["from_staff"] is True
    for client in (customer_client, staff_client):
        listed = client.get(messages_path(order_id)).json()["results"]
        assert [(m["author"], m["body"]) for m in listed] == [
            (user.username, "Gift wrap?"),
            (staff.username, "Of course."),
        ]


def test_anyone_else_gets_404_and_writes_nothing(order_id):
    stranger = client_for(UserFactory())
    assert stranger.get(messages_path(order_id)).status_code == 404
    assert stranger.post(messages_path(order_id), {"body": "hi"}).status_code == 404
    assert stranger.get(messages_path(999_999)).status_code == 404
    assert not Message.objects.exists()


def test_a_strangers_conversation_is_the_domain_error_and_the_same_404(order_id):
    stranger = UserFactory()
    with pytest.raises(ConversationNotFound):
        conversation_order_get(user=stranger, order_id=order_id)
    response = client_for(stranger).get(messages_path(order_id))
    assert (response.status_code, response.json()) == (404, {"detail": "No such order."})


def test_the_conversation_needs_credentials(anon_client, order_id):
    assert anon_client.get(messages_path(order_id)).status_code == 401


@pytest.mark.parametrize("body", ["", "   ", "x" * 10_000])
def test_an_empty_or_too_long_message_is_400_and_writes_nothing(user, order_id, body):
    response = client_for(user).post(messages_path(order_id), {"body": body}, format="json")
    assert response.status_code == 400
    assert "body" in response.json()
    assert not Message.objects.exists()


def test_a_message_must_be_a_string(user, order_id):
    response = client_for(user).post(messages_path(order_id), {"body": ["x"]}, format="json")
    assert response.status_code == 400


def test_reading_marks_the_other_sides_messages_read_once_and_the_list_shows_read_at(
    user, order_id
):
    staff = UserFactory(is_staff=True)
    customer_client, staff_client = client_for(user), client_for(staff)
    customer_client.post(messages_path(order_id), {"body": "Gift wrap?"}, format="json")
    staff_client.post(messages_path(order_id), {"body": "Of course."}, format="json")
    staff_client.post(messages_path(order_id), {"body": "Red or blue?"}, format="json")
    read = messages_path(order_id) + "read/"

    assert customer_client.post(read).json() == {"marked": 2}  # the staff's two
    listed = customer_client.get(messages_path(order_id)).json()["results"]
    by_body = {m["body"]: m["read_at"] for m in listed}
    assert by_body["Gift wrap?"] is None  # the customer's own: not theirs to read
    assert by_body["Of course."] is not None and by_body["Red or blue?"] is not None
    first_read_at = Message.objects.get(body="Of course.").read_at
    assert customer_client.post(read).json() == {"marked": 0}  # again: no change
    assert Message.objects.get(body="Of course.").read_at == first_read_at

    assert staff_client.post(read).json() == {"marked": 1}  # the customer's one
    assert Message.objects.get(body="Gift wrap?").read_at is not None


def test_someone_elses_conversation_cannot_be_marked_read(user, order_id):
    client_for(user).post(messages_path(order_id), {"body": "Hello"}, format="json")
    response = client_for(UserFactory()).post(messages_path(order_id) + "read/")
    assert response.status_code == 404
    assert Message.objects.get().read_at is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_markings_at_once_send_the_receipts_once(user, order_id):
    """The first marking is held uncommitted; the second, sent meanwhile, waits for its
    locks, then finds the messages read: it marks none and tells no one again."""
    staff = UserFactory(is_staff=True)
    client_for(staff).post(messages_path(order_id), {"body": "Shipped."}, format="json")
    order = Order.objects.get(pk=order_id)
    receipts, first_marked, release = [], threading.Event(), threading.Event()

    def heard(sender, message_ids, **kwargs):
        receipts.append(message_ids)

    message_read.connect(heard, dispatch_uid="test-receipts")

    def first():
        try:
            with transaction.atomic():
                marked = messages_mark_read(order=order, reader=user)
                first_marked.set()
                release.wait(timeout=30)
            return marked
        finally:
            connection.close()

    def second():
        try:
            return client_for(user).post(messages_path(order_id) + "read/").json()
        finally:
            connection.close()

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            held = pool.submit(first)
            first_marked.wait(timeout=10)
            answer = pool.submit(second)
            wait_for_a_lock_wait()
            release.set()
            assert held.result(timeout=30) == 1
            assert answer.result(timeout=30) == {"marked": 0}
    finally:
        message_read.disconnect(dispatch_uid="test-receipts")
    assert receipts == [[Message.objects.get().pk]]
