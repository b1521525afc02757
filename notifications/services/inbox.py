"""A person's notifications: made by receivers in the transaction of what they are about
(a rolled-back order notifies no one), pushed live once committed (.live); and read."""

from urllib.parse import urlencode

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.devices import device_name
from core.money import money
from core.signals import insert_isolated
from messaging import selectors as messaging_selectors
from store import selectors as store_selectors

from .. import digests, live, push, selectors
from ..exceptions import NotificationNotFound
from ..models import Notification

MESSAGE_PREVIEW = 120


def notifications_create(
    *, recipient_ids: list[int], kind: str, message: str, link: str = ""
) -> list[Notification]:
    """Notify these users (each once), in the caller's transaction, with their jobs: a
    push to each browser of those who get the kind by push, and their email digest (.push,
    .digests); push it to their open streams once it commits. Inside a signal sent with
    core.signals.send_robust_isolated, the rows go in with the other receivers' rows,
    isolated from them; when a push is due, at once, in a savepoint of their own (the push
    jobs' keys name them)."""
    now = timezone.now()
    rows = [
        Notification(
            recipient_id=user_id, kind=kind, message=message[:500], link=link, created_at=now
        )
        for user_id in dict.fromkeys(recipient_ids)
    ]
    if not rows:
        return rows
    browsers = push.push_browsers(rows)
    if browsers:
        with transaction.atomic():
            Notification.objects.bulk_create(rows)
        transaction.on_commit(lambda: live.notifications_publish(rows), robust=True)
        push.pushes_enqueue(rows, browsers=browsers)
    else:
        insert_isolated(rows, on_commit=live.notifications_publish)
    digests.digests_enqueue(rows)
    return rows


def notifications_create_for_staff(*, kind: str, message: str, link: str = "") -> None:
    """Notify every active staff user. The read of who is staff runs in its own savepoint:
    it must not break the sender's transaction when it fails."""
    with transaction.atomic():
        staff = selectors.staff_user_ids()
    notifications_create(recipient_ids=staff, kind=kind, message=message, link=link)


def order_placed_notify(*, order) -> None:
    """The customer: "Order #42 confirmed"."""
    _order_customer_notify(
        order, Notification.Kind.ORDER_PLACED, f"Order #{order.pk} confirmed: {money(order.total)}"
    )


def order_cancelled_notify(*, order) -> None:
    """The customer: "Order #42 cancelled"."""
    _order_customer_notify(order, Notification.Kind.ORDER_CANCELLED, f"Order #{order.pk} cancelled")


def order_fulfilled_notify(*, order) -> None:
    """The customer: "Order #42 is on its way", with its tracking number."""
    tracking = f" (tracking number {order.tracking_number})" if order.tracking_number else ""
    message = f"Order #{order.pk} is on its way{tracking}"
    _order_customer_notify(order, Notification.Kind.ORDER_FULFILLED, message)


def _order_customer_notify(order, kind: str, message: str) -> None:
    """The order's customer, linked to the order's page (with its side effects)."""
    notifications_create(
        recipient_ids=[order.customer.user_id],
        kind=kind,
        message=message,
        link=reverse("order-page", args=[order.pk]),
    )


def low_stock_notify(*, product, available: int) -> None:
    notifications_create_for_staff(
        kind=Notification.Kind.LOW_STOCK,
        message=f"Low stock: {product.name} ({product.sku}) has {available} left",
        link=reverse("admin:store_product_change", args=[product.pk]),  # where stock is set
    )


def side_effect_failed_notify(*, order_id: int, kind: str, error: str) -> None:
    notifications_create_for_staff(
        kind=Notification.Kind.SIDE_EFFECT_FAILED,
        message=f"Order #{order_id}: {kind} failed for good: {error}",
        link=reverse("admin:store_order_change", args=[order_id]),  # its side effects inline
    )


def webhook_failed_notify(*, endpoint_id: int, url: str, delivery_id: str, reason: str) -> None:
    """Staff: a webhook delivery failed for good, or the shop disabled its endpoint."""
    if delivery_id:
        message = f"Webhook {delivery_id} to {url} failed for good: {reason}"
        # The admin's list of deliveries, found by its webhook-id (its page's id is the job's).
        link = f"{reverse('admin:webhooks_delivery_changelist')}?{urlencode({'q': delivery_id})}"
    else:
        message = f"Webhook endpoint {url} disabled: {reason}"
        link = reverse("admin:webhooks_endpoint_change", args=[endpoint_id])
    notifications_create_for_staff(
        kind=Notification.Kind.SIDE_EFFECT_FAILED, message=message, link=link
    )


def message_notify(*, message) -> None:
    """The other side of the conversation: the customer when staff writes; when the
    customer writes, the staff who took the conversation up, or every staff user."""
    order = message.order
    customer_user_id = order.customer.user_id
    if message.author_id == customer_user_id:
        recipients = messaging_selectors.conversation_staff_ids(order_id=order.pk)
        recipients = recipients or selectors.staff_user_ids()
        recipients = [user_id for user_id in recipients if user_id != message.author_id]
        # Staff read the conversation in the admin, the order's messages together.
        link = reverse("admin:messaging_message_changelist") + f"?order={order.pk}"
    else:
        recipients = [customer_user_id]
        link = reverse("order-page", args=[order.pk]) + f"#message-{message.pk}"
    body = message.body
    preview = body if len(body) <= MESSAGE_PREVIEW else body[: MESSAGE_PREVIEW - 3] + "..."
    notifications_create(
        recipient_ids=recipients,
        kind=Notification.Kind.MESSAGE,
        message=f"New message about order #{order.pk} from "
        f"{message.author.get_username()}: {preview}",
        link=link,
    )


def new_device_login_notify(*, user, event) -> None:
    """Tell a person someone signed in to their account from a device it never saw, in
    their words: "New sign-in to your account: Chrome on Linux, from 203.0.113.5, at
    2026-11-25 11:30 UTC." (the app, the email digest and the push all show this text)."""
    device = device_name(user_agent=event.user_agent)
    when = event.at.strftime("%Y-%m-%d %H:%M UTC")
    with transaction.atomic():
        notifications_create(
            recipient_ids=[user.pk],
            kind=Notification.Kind.NEW_DEVICE_LOGIN,
            message=f"New sign-in to your account: {device}, from "
            f"{event.ip or 'an unknown address'}, at {when}. Not you? Change your password.",
            link=reverse("password-change"),
        )


def read_receipt_push(*, order_id: int, message_ids, author_ids, reader_id: int, read_at) -> None:
    """Show the authors of messages, live, that they were read (the receipt carries no
    notification: the conversation's read_at is the record)."""
    receipt = {
        "order": order_id,
        "message_ids": list(message_ids),
        "read_at": read_at.isoformat().replace("+00:00", "Z"),
    }
    live.read_receipt_publish(
        author_ids=[uid for uid in author_ids if uid != reader_id], receipt=receipt
    )


def duplicate_orders_notify(*, alert_id: int) -> None:
    """Tell every staff user, in one notification, of the duplicate orders an alert names
    (the store makes one a window), in the transaction that made the alert: once an alert.
    The link lists them in the admin."""
    orders = store_selectors.duplicate_alert_get(alert_id=alert_id).named
    notifications_create_for_staff(
        kind=Notification.Kind.DUPLICATE_ORDER,
        message=_duplicates_message(orders),
        link=reverse("admin:store_order_changelist") + f"?duplicate_alert={alert_id}",
    )


def _duplicates_message(orders, limit: int = 500) -> str:
    """Each order and the one it repeats, as many as fit in a notification."""
    if len(orders) == 1:
        order = orders[0]
        return (
            f"Possible duplicate: order #{order.pk} repeats #{order.duplicate_of_id} "
            "(same lines, minutes apart)"
        )
    text = f"Possible duplicates: {len(orders)} orders (same lines, minutes apart):"
    for done, order in enumerate(orders):
        part = f"{',' if done else ''} #{order.pk} repeats #{order.duplicate_of_id}"
        rest = f" and {len(orders) - done} more"
        if len(text) + len(part) + len(rest) > limit:
            return text + rest
        text += part
    return text


def notification_mark_read(*, user, notification_id: int) -> Notification:
    """Mark one of the user's notifications read; marking it again changes nothing.
    NotificationNotFound for an unknown one or anyone else's."""
    mine = Notification.objects.filter(pk=notification_id, recipient=user)
    mine.filter(is_read=False).update(is_read=True, read_at=timezone.now())
    try:
        return mine.get()
    except Notification.DoesNotExist:
        raise NotificationNotFound(notification_id) from None


def notifications_mark_all_read(*, user, up_to_id: int | None = None) -> int:
    """Mark the user's unread notifications read, those up to `up_to_id` only when given
    (what the person saw: one written since stays unread); how many were."""
    unread = Notification.objects.filter(recipient=user, is_read=False)
    if up_to_id is not None:
        unread = unread.filter(pk__lte=up_to_id)
    return unread.update(is_read=True, read_at=timezone.now())
