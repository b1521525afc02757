"""The windows: how long each mechanism of docs/reliability.md's one list waits, in one
place, and how they must relate. Checked at start-up (on import, by every process): a
setting that would break another stops the process in one line. base.py takes these in."""

from core.env import env_int, refuse_in_one_line

# A task runs no longer than this: the soft limit raises inside it (its job retried as
# transient), the hard one kills it (its job's lease then runs out).
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 60)
CELERY_TASK_SOFT_TIME_LIMIT = max(CELERY_TASK_TIME_LIMIT - 10, CELERY_TASK_TIME_LIMIT * 0.8)
# Redis gives a message back after this when the worker holding it has not acknowledged
# it, checked every 5 s by each worker (CELERY_BROKER_TRANSPORT_OPTIONS, below). A message
# is acknowledged when its run starts, so this is one taken and never started (a worker
# that died, froze or was cut off with a message prefetched).
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 90)
# RabbitMQ: a worker that froze or was cut off sends no heartbeat, and the broker closes
# its connection, giving its messages back, after two to three of these, not after
# Celery's 120 s ones (docs/operations.md).
CELERY_BROKER_HEARTBEAT = env_int("CELERY_BROKER_HEARTBEAT", 10)
# An SMTP send, opening its connection and DNS included, is cut at this (core.deadline).
SHOPFLOW_EMAIL_SEND_SECONDS = env_int("SHOPFLOW_EMAIL_SEND_SECONDS", 15)
# A claimed job is its attempt's this long (worker.jobs): longer than a run may last (the
# hard time limit), so that no two attempts of one job ever overlap.
SHOPFLOW_JOB_LEASE_SECONDS = env_int("SHOPFLOW_JOB_LEASE_SECONDS", 75)
# The dispatcher (worker.dispatcher) wakes a kind's workers for due jobs, again for those
# still due this long after, and for at most this many batches of a kind at a time.
SHOPFLOW_WAKE_AGAIN_SECONDS = env_int("SHOPFLOW_WAKE_AGAIN_SECONDS", 30)
SHOPFLOW_WAKE_AHEAD = env_int("SHOPFLOW_WAKE_AHEAD", 8)
# How often the dispatcher looks for due jobs: what a quiet shop's first job waits.
SHOPFLOW_DISPATCH_POLL_MS = env_int("SHOPFLOW_DISPATCH_POLL_MS", 200)
# The one run budget (worker.tasks_base.last_start_by): no unit of work starts later.
_run_budget = CELERY_TASK_SOFT_TIME_LIMIT / 2
for _holds, _line in [
    (
        _run_budget + SHOPFLOW_EMAIL_SEND_SECONDS < SHOPFLOW_JOB_LEASE_SECONDS,
        "SHOPFLOW_JOB_LEASE_SECONDS must be longer than half CELERY_TASK_SOFT_TIME_LIMIT plus"
        " SHOPFLOW_EMAIL_SEND_SECONDS (the mail worker's threads enforce no time limit: its"
        " last send could still run when its job is claimed again).",
    ),
    (
        SHOPFLOW_DISPATCH_POLL_MS / 1000 < SHOPFLOW_WAKE_AGAIN_SECONDS < SHOPFLOW_JOB_LEASE_SECONDS,
        "SHOPFLOW_WAKE_AGAIN_SECONDS must be longer than SHOPFLOW_DISPATCH_POLL_MS and shorter"
        " than SHOPFLOW_JOB_LEASE_SECONDS (a lost wake-up would cost more than a lost worker).",
    ),
    (
        SHOPFLOW_JOB_LEASE_SECONDS > CELERY_TASK_TIME_LIMIT,
        "SHOPFLOW_JOB_LEASE_SECONDS must be longer than CELERY_TASK_TIME_LIMIT (a job still"
        " running would be claimed again).",
    ),
]:
    if not _holds:
        refuse_in_one_line(_line)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
    # The sweep's lock: held for milliseconds, but a worker frozen holding it would stop
    # every sweep for kombu's 5 minutes.
    "unacked_mutex_expire": 10,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
