"""The conversation on the customer's order page (config.pages.order_page): its messages,
the staff's read once shown (their read receipts), and a form to write one. Staff answer
from the admin."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.pages import loaded_ahead, signed_in_or_back_to

from . import selectors, services
from .exceptions import ConversationNotFound
from .models import Message


def conversation_context(request, *, order) -> dict:
    """The order's messages, oldest first; those the other side wrote marked read now,
    unless the browser only loads the page ahead (their read receipts would say "read"
    too early)."""
    if not loaded_ahead(request):
        services.messages_mark_read(order=order, reader=request.user)
    return {"conversation": selectors.message_list(order=order), "message_max": Message.MAX_LENGTH}


@require_POST
@signed_in_or_back_to("order-page", "order_id")
def message_post_page(request, order_id: int):
    """The order page's form: the message posted (staff are told), or why not."""
    try:
        order = selectors.conversation_order_get(user=request.user, order_id=order_id)
    except ConversationNotFound:
        raise Http404() from None
    try:
        message = services.message_post(
            order=order, author=request.user, body=request.POST.get("body", "")
        )
    except ValidationError as refused:
        messages.error(request, " ".join(refused.message_dict.get("body", refused.messages)))
        return redirect(reverse("order-page", args=[order_id]) + "#conversation")
    return redirect(reverse("order-page", args=[order_id]) + f"#message-{message.pk}")
