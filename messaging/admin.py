from django.contrib import admin
from django.utils.text import Truncator

from core.pages import loaded_ahead

from . import selectors, services
from .exceptions import ConversationNotFound
from .models import Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "order", "author", "short_body", "created_at"]
    list_filter = ["created_at", "author__is_staff"]
    search_fields = ["body", "author__username", "order__id"]
    list_select_related = ["author", "order"]
    raw_id_fields = ["order", "author"]
    readonly_fields = ["created_at"]

    def changelist_view(self, request, extra_context=None):
        """An order's conversation (?order=<id>, where a staff notification links) is read
        once shown: the customer's messages get their read receipts, as the staff's do on
        the customer's order page."""
        order_id = request.GET.get("order", "")
        shown = request.method == "GET" and not loaded_ahead(request)
        shown = shown and self.has_view_or_change_permission(request)
        if order_id.isdigit() and shown:
            try:
                order = selectors.conversation_order_get(user=request.user, order_id=order_id)
            except ConversationNotFound:
                pass  # the list says there is none
            else:
                services.messages_mark_read(order=order, reader=request.user)
        return super().changelist_view(request, extra_context)

    def get_exclude(self, request, obj=None):
        return ["author", "read_at"] if obj is None else []  # a new one is the staff's own

    def save_model(self, request, obj, form, change):
        """A new message is the staff member's answer, through the service (the customer
        is told)."""
        if change:
            return super().save_model(request, obj, form, change)
        message = services.message_post(order=obj.order, author=request.user, body=obj.body)
        obj.pk, obj.author, obj.created_at = message.pk, message.author, message.created_at

    @admin.display(description="message")
    def short_body(self, obj):
        return Truncator(obj.body).chars(80, truncate="...")
