from django.contrib import admin, messages

from .dead_letters import dead_letters_requeue
from .models import DeadLetter, OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
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
    readonly_fields = [f.name for f in OutboxMessage._meta.get_fields() if f.concrete]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ["id", "task_name", "args", "exception", "attempts", "created_at", "requeued_at"]
    list_filter = ["task_name", "queue", ("requeued_at", admin.EmptyFieldListFilter)]
    search_fields = ["task_name", "task_id", "exception"]
    readonly_fields = [f.name for f in DeadLetter._meta.get_fields() if f.concrete]
    date_hierarchy = "created_at"
    actions = ["requeue"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Re-enqueue the selected tasks")
    def requeue(self, request, queryset):
        count = dead_letters_requeue(dead_letter_ids=list(queryset.values_list("pk", flat=True)))
        skipped = queryset.count() - count
        self.message_user(request, f"Re-enqueued {count} task(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} already re-enqueued, skipped.", messages.WARNING)
