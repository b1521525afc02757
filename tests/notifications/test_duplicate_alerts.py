"""Staff hear of duplicate orders in one notification each a window, made in the
transaction of the store's alert that names the orders: never one an order, never twice,
none lost."""

from datetime import UTC, datetime, timedelta

import pytest

from notifications.models import Notification
from store.services.duplicates import duplicate_alert_create
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for

pytestmark = pytest.mark.django_db

WINDOW = 300
NOON = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _window(settings):
    settings.SHOPFLOW_DUPLICATE_ALERT_WINDOW_SECONDS = WINDOW


@pytest.fixture
def staff():
    return [UserFactory(is_staff=True), UserFactory(is_staff=True)]


@pytest.fixture
def mug():
    return ProductFactory(on_hand=1000)


def duplicate(product) -> dict:
    """A new customer's order, then the same again: the second is flagged."""
    user = UserFactory()
    for _ in range(2):
        cart = cart_with(user.customer, (product, 1))
        answer = client_for(user).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
        assert answer.status_code == 201, answer.json()
    assert answer.json()["duplicate_of"] is not None
    return answer.json()


def alerts_of(user) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user, kind="duplicate_order").order_by("pk"))


def test_duplicates_of_one_window_make_one_notification_a_staff_user_naming_each(staff, mug):
    flagged = [duplicate(mug) for _ in range(3)]
    assert not Notification.objects.filter(kind="duplicate_order").exists()  # none an order

    alert_id = duplicate_alert_create(now=NOON)

    for member in staff:
        [notification] = alerts_of(member)
        assert notification.message.startswith("Possible duplicates: 3 orders")
        for order in flagged:
            assert f"#{order['id']} repeats #{order['duplicate_of']}" in notification.message
        assert notification.link == f"/admin/store/order/?duplicate_alert={alert_id}"
    customers = Notification.objects.filter(kind="duplicate_order").exclude(recipient__in=staff)
    assert not customers.exists()


def test_one_duplicate_is_named_as_before(staff, mug):
    flagged = duplicate(mug)
    duplicate_alert_create(now=NOON)
    [notification] = alerts_of(staff[0])
    assert notification.message == (
        f"Possible duplicate: order #{flagged['id']} repeats #{flagged['duplicate_of']} "
        "(same lines, minutes apart)"
    )


def test_duplicates_of_two_windows_make_two_notifications(staff, mug):
    first = duplicate(mug)
    duplicate_alert_create(now=NOON)
    second = duplicate(mug)
    duplicate_alert_create(now=NOON + timedelta(seconds=WINDOW))

    older, newer = alerts_of(staff[0])
    assert f"#{first['id']} repeats" in older.message
    assert f"#{second['id']} repeats" not in older.message
    assert f"#{second['id']} repeats" in newer.message
    assert f"#{first['id']} repeats" not in newer.message


def test_a_second_run_notifies_no_one_again(staff, mug):
    duplicate(mug)
    duplicate_alert_create(now=NOON)
    assert duplicate_alert_create(now=NOON) is None
    assert duplicate_alert_create(now=NOON + timedelta(seconds=WINDOW)) is None
    assert [len(alerts_of(member)) for member in staff] == [1, 1]


def test_an_order_flagged_after_the_windows_notification_is_named_in_the_next(staff, mug):
    duplicate(mug)
    duplicate_alert_create(now=NOON)
    late = duplicate(mug)
    assert duplicate_alert_create(now=NOON + timedelta(seconds=WINDOW - 1)) is None
    duplicate_alert_create(now=NOON + timedelta(seconds=WINDOW))

    first, then = alerts_of(staff[0])
    assert f"#{late['id']} repeats" not in first.message
    assert then.message.startswith(f"Possible duplicate: order #{late['id']} repeats")


def test_a_long_list_fits_the_notification_and_says_how_many_more(staff, mug):
    flagged = [duplicate(mug) for _ in range(30)]
    duplicate_alert_create(now=NOON)

    [notification] = alerts_of(staff[0])
    shown = [order for order in flagged if f"#{order['id']} repeats" in notification.message]
    assert 0 < len(shown) < 30
    assert len(notification.message) <= 500
    assert notification.message.startswith("Possible duplicates: 30 orders")
    assert notification.message.endswith(f" and {30 - len(shown)} more")


def test_the_staff_user_following_the_link_sees_the_orders_named(staff, mug):
    flagged = [duplicate(mug), duplicate(mug)]
    duplicate_alert_create(now=NOON)
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = client_for(admin)
    client.force_login(admin)
    [notification] = alerts_of(staff[0])

    page = client.get(notification.link)
    assert page.status_code == 200
    assert {order.pk for order in page.context["cl"].result_list} == {o["id"] for o in flagged}
