"""Routing: each app sends its tasks to a queue in its ready() (`route_tasks`), and
Celery's router finds the queue by the task's name, whoever sends it (the outbox, beat, a
requeued dead letter) and whether or not that process imported the task. A task no app
routes goes to the default queue. Configured as CELERY_TASK_ROUTES."""

from fnmatch import fnmatchcase

_routes: list[tuple[str, str]] = []


def route_tasks(queue: str, *tasks) -> None:
    """Send these tasks (Celery tasks, or name patterns such as "email_app.*") to `queue`."""
    for task in tasks:
        _routes.append((getattr(task, "name", task), queue))


def route(name, args, kwargs, options, task=None, **kw):
    """Celery's router signature: the queue of the first route that matches the name."""
    for pattern, queue in _routes:
        if fnmatchcase(name, pattern):
            return {"queue": queue}
    return None
