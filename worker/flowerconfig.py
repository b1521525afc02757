"""Flower's options, read as Shopflow's settings are: `celery -A worker flower
--conf=worker/flowerconfig.py` (make run, docker-compose.yml, kubernetes/). Given on the
command line, a switch is parsed by Tornado, for which "off" and "no" mean on; read here,
it means what it means to the workers (core.env). It also installs what Flower's options
cannot say (worker/compat/flower.py): every routed queue listed, no public page."""

import os

from core.env import env_int, env_list, refuse
from worker.compat.flower import flower_extension_install

# Flower never broadcasts enable_events: the workers send task events by their own switch
# (CELERY_WORKER_SEND_TASK_EVENTS), so that broadcast, every 5 s, only repeated it; and
# with the broker away it retried for ever (kombu's ensure, unbounded) in a thread Python
# waits for at exit, so a Flower stopped in an outage waited out its whole grace.
enable_events = False

# Flower keeps the tasks it heard of in memory, a tenth of its default (what each costs:
# docs/monitoring.md). A task's lasting record is its side effect and its result row, not
# Flower's list.
max_tasks = env_int("SHOPFLOW_FLOWER_MAX_TASKS", 10_000)
if max_tasks < 100:
    refuse("SHOPFLOW_FLOWER_MAX_TASKS", str(max_tasks), "a number of tasks, 100 or more")

# Not persistent: after a restart Flower rebuilds its picture from the events that follow,
# and a shelve file written at a kill can come back corrupt and stop Flower starting.
persistent = False

# RabbitMQ's management API, which the metrics read too (docs/monitoring.md): Flower's
# Broker page then shows each queue's unacknowledged messages and consumers.
rabbitmq_api = os.environ.get("SHOPFLOW_RABBITMQ_API", "").strip()
broker_api = rabbitmq_api.rstrip("/") + "/" if rabbitmq_api else None

# A worker that went away (a scaled-down pod) leaves the Workers page after 10 minutes.
purge_offline_workers = 600

# Flower reads FLOWER_BASIC_AUTH from its environment; without it every page and the
# control API would be open to whoever reaches the port.
credentials = env_list("FLOWER_BASIC_AUTH", "")
if not credentials or not all(
    user and pw for user, _, pw in (c.partition(":") for c in credentials)
):
    refuse("FLOWER_BASIC_AUTH", ",".join(credentials), "user:password pairs, comma-separated")

flower_extension_install()
