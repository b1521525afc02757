"""The admin's one shared shape: a record the shop writes itself."""

from django.contrib import admin


class RecordAdmin(admin.ModelAdmin):
    """A record the shop writes itself (a log, a ledger, a delivery): staff read it here
    and act on it through the admin's actions; nobody adds or edits one by hand (a page
    saved back would write over what a worker wrote since it was opened). Fields named in
    `exclude` (a secret) are not shown at all."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
