"""kubernetes/shopflow.yaml: every object valid against Kubernetes' own schema, the same
commands as docker-compose.yml, one beat, every queue scaled by KEDA, no secret inline."""

import shlex
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from django.conf import settings

MANIFEST = Path(__file__).resolve().parents[2] / "kubernetes" / "shopflow.yaml"
KUBERNETES_VERSION = "1.33"  # a release the validator carries the schema of
# The Deployment of each compose service (migrate is the Job).
DEPLOYMENTS = {"web", "relay", "worker", "mail", "beat", "flower"}


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc]


def of_kind(objects, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def container(workload: dict) -> dict:
    [only] = workload["spec"]["template"]["spec"]["containers"]
    return only


def test_every_kubernetes_object_is_valid_against_its_schema(objects):
    built_in = [o for o in objects if not o["apiVersion"].startswith("keda.sh/")]
    assert {o["kind"] for o in built_in} == {"ConfigMap", "Job", "Deployment", "Service"}
    for obj in built_in:
        # strict: a field the schema does not know is an error (a typo is not ignored).
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_a_misspelt_field_is_refused_by_the_validation(objects):
    web = of_kind(objects, "Deployment")["shopflow-web"]
    broken = {**web, "spec": {**web["spec"], "replica": 2}}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_each_deployment_runs_its_compose_service_command(objects, services):
    deployments = of_kind(objects, "Deployment")
    assert set(deployments) == {f"shopflow-{name}" for name in DEPLOYMENTS}
    for name in DEPLOYMENTS:
        assert container(deployments[f"shopflow-{name}"])["command"] == shlex.split(
            services[name]["command"]
        ), name
    job = of_kind(objects, "Job")["shopflow-migrate"]
    assert container(job)["command"] == shlex.split(services["migrate"]["command"])


def test_there_is_one_beat_and_a_rollout_never_runs_two(objects):
    beat = of_kind(objects, "Deployment")["shopflow-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert "shopflow-beat" not in of_kind(objects, "ScaledObject")


def test_every_queue_a_worker_consumes_is_scaled_on_its_length(objects):
    deployments = of_kind(objects, "Deployment")
    scaled = of_kind(objects, "ScaledObject")
    queues = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    for name, scaler in scaled.items():
        target = deployments[scaler["spec"]["scaleTargetRef"]["name"]]
        command = container(target)["command"]
        consumed = set(command[command.index("-Q") + 1].split(","))
        lists = {t["metadata"]["listName"] for t in scaler["spec"]["triggers"]}
        assert lists == consumed, name
        assert consumed <= queues
        assert 1 <= scaler["spec"]["minReplicaCount"] <= scaler["spec"]["maxReplicaCount"]
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled.values()} == {
        "shopflow-worker",
        "shopflow-mail",
    }


def test_secrets_come_from_a_secret_never_from_the_file(objects):
    config = of_kind(objects, "ConfigMap")["shopflow-config"]["data"]
    assert not {"DJANGO_SECRET_KEY", "DATABASE_URL", "FLOWER_BASIC_AUTH"} & set(config)
    for workload in [*of_kind(objects, "Deployment").values(), *of_kind(objects, "Job").values()]:
        sources = container(workload)["envFrom"]
        assert {"secretRef": {"name": "shopflow-secrets"}} in sources
        assert "env" not in container(workload)
