from datetime import timedelta

from celery import shared_task
from django.conf import settings

from . import services


@shared_task(name="accounts.prune_login_audit")
def prune_login_audit() -> dict[str, int]:
    return services.login_audit_prune(
        older_than=timedelta(days=settings.SHOPFLOW_LOGIN_AUDIT_RETENTION_DAYS)
    )
