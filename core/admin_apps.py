"""django.contrib.admin's app config with Shopflow's site as the default (a module of its
own: in core/apps.py a second AppConfig would leave Django unsure which one is core's)."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "core.admin_site.AdminSite"
