from django.contrib import admin, messages

from core.admin import RecordAdmin

from .jobs import jobs_redrive
from .models import DeadLetter, Job


@admin.register(Job)
class JobAdmin(RecordAdmin):
    """Every job, by kind and status; failed ones can be re-driven."""

    list_display = ["id", "kind", "key", "status", "attempts", "due_at", "ended_at", "last_error"]
    list_filter = ["status", "kind"]
    search_fields = ["key", "last_error"]
    date_hierarchy = "created_at"
    actions = ["redrive"]

    @admin.action(description="Re-drive the selected failed jobs")
    def redrive(self, request, queryset):
        count = jobs_redrive(jobs=queryset)
        self.message_user(request, f"Re-drove {count} job(s).", messages.SUCCESS)
        if skipped := queryset.count() - count:
            self.message_user(request, f"{skipped} not failed, left as they are.", messages.WARNING)


@admin.register(DeadLetter)
class DeadLetterAdmin(JobAdmin):
    """The failed jobs alone: what an operator has to look at."""

    list_display = ["id", "kind", "key", "attempts", "ended_at", "last_error"]
    list_filter = ["kind"]
