"""django.contrib.admin's app config with the throttled site as the default (a module of
its own: in accounts/apps.py a second AppConfig would leave Django unsure which one is
the accounts app's)."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "accounts.admin_site.AdminSite"
