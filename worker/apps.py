from celery.signals import before_task_publish, task_postrun, worker_ready
from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WorkerConfig(AppConfig):
    name = "worker"
    verbose_name = "Worker: jobs and dead letters"

    def ready(self):
        from core.metrics import add_collector

        from . import metrics, receivers, schedule, tasks

        task_postrun.connect(metrics.task_ended, dispatch_uid="worker.metrics.task_ended")
        worker_ready.connect(metrics.serve_worker_metrics, dispatch_uid="worker.metrics.serve")
        add_collector(metrics.JobCollector())
        add_collector(metrics.QueueCollector())

        schedule.schedule_task(
            "jobs prune", tasks.prune_jobs, crontab={"minute": "40", "hour": "3"}
        )
        # Celery's celery.backend_cleanup (expired task results, daily at 04:00) is
        # django-celery-beat's own default entry, installed by the beat that sends.
        before_task_publish.connect(
            receivers.stamp_publish_time, dispatch_uid="worker.stamp_publish_time"
        )
        post_migrate.connect(
            schedule.install_schedule, sender=self, dispatch_uid="worker.install_schedule"
        )
