from django.contrib import admin

from core.admin import RecordAdmin

from .models import SentEmail


@admin.register(SentEmail)
class SentEmailAdmin(RecordAdmin):
    list_display = ["id", "kind", "key", "recipients", "subject", "sent_at"]
    list_filter = ["kind", "sent_at"]
    search_fields = ["key", "subject"]
    date_hierarchy = "sent_at"
