"""The default beat schedule. Written to django-celery-beat's tables by a migration (and
`python manage.py install_schedule`), so operators can change it in the admin later.
Installing it again leaves entries an operator changed as they are."""

import json

# name: (task, schedule, options). Schedules are ("every", seconds) or ("crontab", fields).
DEFAULT_SCHEDULE = {
    "outbox relay": (
        "worker.relay_outbox",
        ("every", 5),
        # A relay that waited longer than this in a backlog is stale: the next one is due.
        {"expire_seconds": 10},
    ),
    "side effects reconciler": (
        "store.reconcile_side_effects",
        ("every", 60),
        {"expire_seconds": 120},
    ),
    "outbox prune": ("worker.prune_outbox", ("crontab", {"minute": "30", "hour": "3"}), {}),
    "celery.backend_cleanup": (
        "celery.backend_cleanup",
        ("crontab", {"minute": "0", "hour": "4"}),
        {"expire_seconds": 12 * 3600},
    ),
    "analytics daily rollup": (
        "analytics_app.rollup_daily_summary",
        ("crontab", {"minute": "5", "hour": "*"}),
        {"expire_seconds": 1800},
    ),
    "abandoned carts cleanup": (
        "store.remove_abandoned_carts",
        ("crontab", {"minute": "0", "hour": "3"}),
        {"expire_seconds": 3600},
    ),
    "login audit prune": (
        "core.prune_login_audit",
        ("crontab", {"minute": "45", "hour": "3"}),
        {"expire_seconds": 3600},
    ),
}


def install_default_schedule(apps=None) -> list[str]:
    """Create the missing entries; returns the names created."""
    if apps is None:
        from django.apps import apps
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    interval = apps.get_model("django_celery_beat", "IntervalSchedule")
    crontab = apps.get_model("django_celery_beat", "CrontabSchedule")
    changed = apps.get_model("django_celery_beat", "PeriodicTasks")
    created = []
    for name, (task, (kind, spec), options) in DEFAULT_SCHEDULE.items():
        if periodic_task.objects.filter(name=name).exists():
            continue
        fields = {"name": name, "task": task, "kwargs": json.dumps({}), **options}
        if kind == "every":
            fields["interval"], _ = interval.objects.get_or_create(every=spec, period="seconds")
        else:
            values = {"day_of_week": "*", "day_of_month": "*", "month_of_year": "*", **spec}
            fields["crontab"], _ = crontab.objects.get_or_create(**values)
        periodic_task.objects.create(**fields)
        created.append(name)
    if created:
        # Tell a running beat that the schedule changed.
        from django.utils import timezone

        changed.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})
    return created
