from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WorkerConfig(AppConfig):
    name = "worker"
    verbose_name = "Worker: outbox and dead letters"

    def ready(self):
        from core.metrics import add_collector

        from . import metrics, receivers, schedule, tasks

        metrics.connect()
        add_collector(metrics.OutboxCollector())
        add_collector(metrics.DeadLetterCollector())
        add_collector(metrics.QueueCollector())

        schedule.schedule_task(
            "outbox relay",
            tasks.relay_outbox,
            every_seconds=5,
            # A relay that waited longer than this in a backlog is stale: the next one is due.
            expire_seconds=10,
        )
        schedule.schedule_task(
            "outbox prune", tasks.prune_outbox, crontab={"minute": "30", "hour": "3"}
        )
        schedule.schedule_task(
            "celery.backend_cleanup",
            "celery.backend_cleanup",  # Celery's own: expired task results
            crontab={"minute": "0", "hour": "4"},
            expire_seconds=12 * 3600,
        )
        post_migrate.connect(
            receivers.install_schedule_after_migrate,
            sender=self,
            dispatch_uid="worker.install_schedule_after_migrate",
        )
