import time

from django.apps import apps as installed_apps

from .queues import PUBLISHED_AT_HEADER
from .schedule import install_schedule


def install_schedule_after_migrate(sender, apps=installed_apps, using="default", **kwargs):
    """post_migrate (and flush): the beat schedule's missing entries, once their tables are
    there (as Django makes its permissions after every migrate)."""
    install_schedule(apps=apps, using=using)


def stamp_publish_time(headers, properties, **kwargs):
    """before_task_publish: the time of publication on every task message, as a header
    (Redis) and as the AMQP timestamp, which RabbitMQ's management API reports for the
    head of each queue (py-amqp packs that property as an integer: whole seconds)."""
    now = time.time()
    headers[PUBLISHED_AT_HEADER] = now
    properties["timestamp"] = int(now)
