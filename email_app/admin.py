from django.contrib import admin

from .models import SentEmail


@admin.register(SentEmail)
class SentEmailAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "key", "recipients", "subject", "status", "sent_at"]
    list_filter = ["kind", "status", "sent_at"]
    search_fields = ["key", "subject"]
    readonly_fields = ["kind", "key", "recipients", "subject", "status", "claimed_at", "sent_at"]
    date_hierarchy = "claimed_at"

    def has_add_permission(self, request):
        return False
