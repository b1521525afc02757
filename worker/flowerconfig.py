"""Flower's options that follow Shopflow's settings: `celery -A worker flower
--conf=worker/flowerconfig.py` (make run, docker-compose.yml). Given on the command line,
a switch is parsed by Tornado, for which "off" and "no" mean on; read here, it means what
it means to the workers (core.env)."""

from core.env import env_bool

# With events enabled, Flower turns them on in every worker every few seconds: it follows
# the workers' switch rather than overrule it.
enable_events = env_bool("CELERY_WORKER_SEND_TASK_EVENTS", True)
