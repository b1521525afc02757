from django.contrib import admin

from .models import SentEmail


@admin.register(SentEmail)
class SentEmailAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "key", "recipients", "subject", "sent_at"]
    list_filter = ["kind", "sent_at"]
    search_fields = ["key", "subject"]
    readonly_fields = ["kind", "key", "recipients", "subject", "sent_at"]
    date_hierarchy = "sent_at"

    def has_add_permission(self, request):
        return False
