"""Each worker scaled by KEDA on its kinds' due jobs in PostgreSQL, as kubernetes/
renders it: every kind the code routes to a worker's queues counted by its trigger's
query (the queries run here, on the test database), and KEDA connected through the
Secret's DATABASE_URL, no database, user or password inline.
tests/deploy/test_kubernetes.py checks the rest of the rendered objects."""

import re
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection

from tests.support.kubelet import container, objects_of, of_kind, shop_deployments
from worker.celery import app
from worker.models import Job
from worker.queues import queue_of
from worker.tasks_base import job_tasks

# The kinds a KEDA trigger's query counts: its `kind IN ('a', 'b')`.
KIND_LIST = re.compile(r"\bkind\s+IN\s*\(([^)]*)\)", re.IGNORECASE)


def project_job_tasks() -> dict:
    """{kind: task} of the project's own apps' job tasks: not those another test made in
    this process (the docs' gift wrap, the tests' echo kind)."""
    from django.apps import apps

    ours = {config.name for config in apps.get_app_configs()}
    return {k: t for k, t in job_tasks().items() if t.__module__.split(".")[0] in ours}


def job_kinds_by_queue() -> dict[str, set[str]]:
    """{queue: the job kinds whose tasks Celery routes there}, from the code: a kind added
    later is here by itself."""
    app.loader.import_default_modules()
    queues: dict[str, set[str]] = {}
    for kind, task in project_job_tasks().items():
        queues.setdefault(queue_of(task_name=task.name), set()).add(kind)
    return queues


def consumed_queues(deployment: dict) -> set[str]:
    command = container(deployment)["command"]
    return set(command[command.index("-Q") + 1].split(","))


def kinds_of(deployment: dict, routed: dict[str, set[str]]) -> set[str]:
    """The job kinds whose wake-ups the Deployment's workers take (its `-Q`)."""
    return set().union(*(routed.get(queue, set()) for queue in consumed_queues(deployment)))


def scalers() -> dict[str, tuple[dict, dict]]:
    """{Deployment: (the Deployment, its ScaledObject's one trigger)}."""
    deployments = shop_deployments()
    scaled = {}
    for scaler in of_kind(objects_of("base"), "ScaledObject").values():
        spec = scaler["spec"]
        assert 1 == spec["minReplicaCount"] < spec["maxReplicaCount"] == 10
        [trigger] = spec["triggers"]
        name = spec["scaleTargetRef"]["name"]
        scaled[name] = (deployments[name], trigger)
    return scaled


def kinds_counted(query: str) -> set[str]:
    """The kinds of the query's one `kind IN ('a', 'b')` list."""
    [listed] = KIND_LIST.findall(query)
    return set(re.findall(r"'([^']*)'", listed))


def test_each_scaled_worker_counts_the_jobs_of_exactly_the_kinds_its_queues_carry():
    """The broker's queues hold only wake-ups (a few batches' worth at most): a worker's
    backlog is its kinds' jobs in PostgreSQL, each kind the one whose task is routed to a
    queue it consumes. A kind the yaml forgets would never scale its worker out."""
    routed = job_kinds_by_queue()
    queues = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    scaled = scalers()
    assert set(scaled) == {"shopflow-worker", "shopflow-mail"}
    for name, (deployment, trigger) in scaled.items():
        assert consumed_queues(deployment) <= queues, name
        expected = kinds_of(deployment, routed)
        assert expected, f"{name}: no job kind on its queues"
        assert trigger["type"] == "postgresql", name
        assert kinds_counted(trigger["metadata"]["query"]) == expected, name
        # A replica's share is a batch of each of its kinds at least: one batch due
        # scales nothing out.
        batches = max(project_job_tasks()[kind].batch for kind in expected)
        assert float(trigger["metadata"]["targetQueryValue"]) >= batches, name


@pytest.mark.django_db
@pytest.mark.postgres
def test_each_scalers_query_counts_its_kinds_due_pending_jobs_on_postgresql():
    """Each trigger's query as KEDA sends it, on the test database: jobs of every kind the
    code has, and of one it has not; per kind, a different number due (this instant, a
    while ago, or being run: a replica's work too), and others due later, done or failed,
    which count nothing. Times are the database's clock, as the engine's are."""
    routed = job_kinds_by_queue()
    kinds = sorted({*project_job_tasks(), "not_a_kind"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")  # the query's now(): this transaction's start
        [(now,)] = cursor.fetchall()
    jobs, due = [], {}
    for n, kind in enumerate(kinds, start=1):
        due[kind] = n + 2
        jobs += [
            Job(kind=kind, key=f"due {i}", due_at=now - timedelta(minutes=5)) for i in range(n)
        ]
        jobs += [
            Job(kind=kind, key="due this instant", due_at=now),
            Job(
                kind=kind,
                key="running",
                due_at=now - timedelta(minutes=1),
                leased_until=now + timedelta(minutes=1),
                lease_id=uuid.uuid4(),
                attempts=1,
            ),
            Job(kind=kind, key="later", due_at=now + timedelta(minutes=5)),
            Job(kind=kind, key="retried later", due_at=now + timedelta(seconds=30), attempts=2),
            Job(kind=kind, key="done", status=Job.Status.DONE, due_at=now - timedelta(hours=1)),
            Job(kind=kind, key="failed", status=Job.Status.FAILED, due_at=now - timedelta(hours=1)),
        ]
    Job.objects.bulk_create(jobs)

    for name, (deployment, trigger) in scalers().items():
        with connection.cursor() as cursor:
            cursor.execute(trigger["metadata"]["query"])
            [(counted,)] = cursor.fetchall()
        assert counted == sum(due[kind] for kind in kinds_of(deployment, routed)) > 0, name


def test_keda_connects_with_the_database_url_the_pods_read_from_the_secret():
    """One TriggerAuthentication: the Secret's DATABASE_URL, the very key the worker and
    mail pods read (envFrom, never replaced in their env); no trigger names a database,
    a user or a password in the file."""
    objects = objects_of("base")
    [auth] = of_kind(objects, "TriggerAuthentication").values()
    assert auth["spec"] == {
        "secretTargetRef": [
            {"parameter": "connection", "name": "shopflow-secrets", "key": "DATABASE_URL"}
        ]
    }
    inline = {"connection", "connectionFromEnv", "host", "port", "userName", "dbName"}
    inline |= {"password", "passwordFromEnv", "sslmode"}
    for name, (deployment, trigger) in scalers().items():
        assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}, name
        assert not inline & set(trigger["metadata"]), name
        pod = container(deployment)
        assert {"secretRef": {"name": "shopflow-secrets"}} in pod["envFrom"], name
        assert "DATABASE_URL" not in {variable["name"] for variable in pod.get("env", [])}
