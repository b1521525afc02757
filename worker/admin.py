from django.contrib import admin, messages

from core.admin import RecordAdmin

from .dead_letters import dead_letters_requeue
from .jobs import jobs_redrive
from .models import DeadLetter, Job, OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(RecordAdmin):
    list_display = [
        "id",
        "task_name",
        "args",
        "created_at",
        "published_at",
        "attempts",
        "last_error",
    ]
    list_filter = ["task_name", ("published_at", admin.EmptyFieldListFilter)]
    search_fields = ["task_name", "task_id"]
    date_hierarchy = "created_at"


@admin.register(DeadLetter)
class DeadLetterAdmin(RecordAdmin):
    list_display = ["id", "task_name", "args", "exception", "attempts", "created_at", "requeued_at"]
    list_filter = ["task_name", "queue", ("requeued_at", admin.EmptyFieldListFilter)]
    search_fields = ["task_name", "task_id", "exception"]
    date_hierarchy = "created_at"
    actions = ["requeue"]

    @admin.action(description="Re-enqueue the selected tasks")
    def requeue(self, request, queryset):
        count = dead_letters_requeue(dead_letter_ids=list(queryset.values_list("pk", flat=True)))
        skipped = queryset.count() - count
        self.message_user(request, f"Re-enqueued {count} task(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} already re-enqueued, skipped.", messages.WARNING)


@admin.register(Job)
class JobAdmin(RecordAdmin):
    """Every job: the failed ones are the dead letters, re-driven by the action."""

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
