from django.apps import apps as installed_apps

from .schedule import install_schedule


def install_schedule_after_migrate(sender, apps=installed_apps, using="default", **kwargs):
    """post_migrate (and flush): the beat schedule's missing entries, once their tables are
    there (as Django makes its permissions after every migrate)."""
    install_schedule(apps=apps, using=using)
