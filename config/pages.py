"""The front door, `/`: where a signed-in person starts. Their latest orders (store) and
notifications (notifications), and for staff the ways to the analytics, the admin and
Flower. The project puts the apps' pages together here, as config.urls does their routes."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from messaging.pages import conversation_context
from notifications import selectors as notification_selectors
from store import selectors as store_selectors
from store.pages import order_page_context, order_rows

LATEST = 5


@login_required
def front_door(request):
    user = request.user
    orders = store_selectors.order_list(user=user, with_lines=False)[:LATEST]
    notifications = notification_selectors.notification_list(user_id=user.pk)
    context = {
        "orders": order_rows(orders),
        "notifications": notifications[:LATEST],  # newest first
        "unread": notification_selectors.notification_unread(user_id=user.pk).unread,
        "flower_url": settings.SHOPFLOW_FLOWER_URL if user.is_staff else "",
    }
    return render(request, "core/front_door.html", context)


@login_required
def order_page(request, order_id: int):
    """An order's page: its status, lines and side effects (store), and its conversation
    with staff (messaging), whose messages from staff are read once shown."""
    context = order_page_context(request, order_id)
    context.update(conversation_context(request, order=context["order"]))
    return render(request, "store/order.html", context)
