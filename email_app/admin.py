from django.contrib import admin

from core.admin import RecordAdmin

from .models import SentEmail


@admin.register(SentEmail)
class SentEmailAdmin(RecordAdmin):
    list_display = ["id", "kind", "key", "recipients", "subject", "status", "sent_at"]
    list_filter = ["kind", "status", "sent_at"]
    search_fields = ["key", "subject"]
    date_hierarchy = "claimed_at"
