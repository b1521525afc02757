"""The admin site: Django's, with the login throttled as every other login is. Installed
as the default site (accounts.admin_apps.AdminConfig), so admin.site and every register()
use it."""

from django.contrib import admin

from .forms import AdminLoginForm
from .pages import login_throttled


class AdminSite(admin.AdminSite):
    login_form = AdminLoginForm

    def login(self, request, extra_context=None):
        return login_throttled(super().login)(request, extra_context)
