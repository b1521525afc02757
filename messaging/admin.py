from django.contrib import admin
from django.utils.text import Truncator

from .models import Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "order", "author", "short_body", "created_at"]
    list_filter = ["created_at", "author__is_staff"]
    search_fields = ["body", "author__username", "order__id"]
    list_select_related = ["author", "order"]
    raw_id_fields = ["order", "author"]
    readonly_fields = ["created_at"]

    @admin.display(description="message")
    def short_body(self, obj):
        return Truncator(obj.body).chars(80, truncate="...")
