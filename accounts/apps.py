from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from core.metrics import set_login_throttle
        from worker.schedule import schedule_task

        from . import receivers, selectors, tasks

        # /metrics takes the ops pairs by basic auth: under the same throttle as every login.
        set_login_throttle(selectors.login_retry_after_for)

        user_logged_in.connect(receivers.audit_login, dispatch_uid="accounts.audit_login")
        user_login_failed.connect(
            receivers.audit_login_failure, dispatch_uid="accounts.audit_login_failure"
        )
        schedule_task(
            "login audit prune",
            tasks.prune_login_audit,
            crontab={"minute": "45", "hour": "3"},
            expire_seconds=3600,
        )
