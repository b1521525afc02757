"""The admin's one shared shape: a record the shop writes itself."""

from django.contrib import admin


class RecordAdmin(admin.ModelAdmin):
    """A record the shop writes itself (a log, a ledger, a delivery): staff read every
    stored field of it here, and act on it through the admin's actions; nobody adds one
    or edits one by hand. Fields named in `exclude` (a secret) are not shown at all."""

    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        hidden = set(self.exclude or ())
        return [f.name for f in self.model._meta.concrete_fields if f.name not in hidden]
