"""Shopflow's own deployment checks (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

# The pairs open Flower and /metrics: the example's placeholder, or a password a guess
# list reaches, must not go to production.
MIN_OPS_PASSWORD = 12


@register(Tags.security, deploy=True)
def ops_passwords(app_configs=None, **kwargs):
    weak = [
        pair.partition(":")[0]
        for pair in settings.SHOPFLOW_OPS_BASIC_AUTH
        if len(pair.partition(":")[2]) < MIN_OPS_PASSWORD or "change-me" in pair
    ]
    if not weak:
        return []
    return [
        Warning(
            f"FLOWER_BASIC_AUTH has a weak password for {', '.join(weak)}: it opens Flower "
            f"and /metrics. Use at least {MIN_OPS_PASSWORD} characters, not the example's.",
            id="shopflow.W001",
        )
    ]


@register()
def rabbitmq_api(app_configs=None, **kwargs):
    """On RabbitMQ, /metrics reads held messages and the oldest message's age from the
    management API: without it those series are missing, which an operator should know."""
    if not settings.CELERY_BROKER_URL.startswith(("amqp", "pyamqp")):
        return []
    if settings.SHOPFLOW_RABBITMQ_API:
        return []
    return [
        Warning(
            "SHOPFLOW_RABBITMQ_API is not set: /metrics cannot show the messages workers "
            "hold nor the oldest message's age of RabbitMQ's queues.",
            hint="Enable rabbitmq_management and set it to http://user:password@host:15672/api.",
            id="shopflow.W002",
        )
    ]
