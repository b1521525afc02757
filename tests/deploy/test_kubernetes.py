"""kubernetes/: every object valid against Kubernetes' own schema, the same commands as
docker-compose.yml, two beats, every queue scaled by KEDA, no secret inline, a migrate Job
per release that every pod waits for, a probe for every process, and the metrics' volume
only where it is mounted. tests/deploy/test_kubernetes_probes.py asks the probes of
running processes."""

import re
import shlex
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from django.conf import settings

KUBERNETES = Path(__file__).resolve().parents[2] / "kubernetes"
MANIFEST = KUBERNETES / "shopflow.yaml"
MIGRATE_JOB = KUBERNETES / "migrate.yaml"
KUBERNETES_VERSION = "1.33"  # a release the validator carries the schema of
SECRET_LIKE = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY$|AUTH|_URL$")
# The Deployment of each compose service (migrate is the Job).
DEPLOYMENTS = {"web", "relay", "worker", "mail", "beat", "flower"}


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    documents = (yaml.safe_load_all(path.read_text()) for path in (MANIFEST, MIGRATE_JOB))
    return [doc for docs in documents for doc in docs if doc]


def of_kind(objects, kind: str) -> dict[str, dict]:
    """By name (a generated name's prefix for the migrate Job)."""
    named = ((o["metadata"].get("name") or o["metadata"]["generateName"], o) for o in objects)
    return {name: o for name, o in named if o["kind"] == kind}


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
    job = of_kind(objects, "Job")["shopflow-migrate-"]
    assert container(job)["command"] == shlex.split(services["migrate"]["command"])


def test_two_beats_run_and_a_rollout_may_overlap_them(objects):
    """One beat sends behind a lease, the other stands by (worker/beat.py): one dead, the
    other sends the next; old and new side by side during a rollout send nothing twice."""
    beat = of_kind(objects, "Deployment")["shopflow-beat"]
    assert beat["spec"]["replicas"] == 2
    assert beat["spec"].get("strategy", {}).get("type", "RollingUpdate") == "RollingUpdate"
    assert "shopflow-beat" not in of_kind(objects, "ScaledObject")  # no queue measures it


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
        for variable in container(workload).get("env", []):
            # Inline values are settings; a secret is referenced.
            assert "value" not in variable or not SECRET_LIKE.search(variable["name"]), variable
            if "valueFrom" in variable:
                assert variable["valueFrom"]["secretKeyRef"]["name"] == "shopflow-secrets"


def test_each_release_has_a_migrate_job_of_its_own_run_straight_against_postgresql(objects):
    job = of_kind(objects, "Job")["shopflow-migrate-"]
    # create, not apply: a fixed name would refuse the next release's template.
    assert "name" not in job["metadata"] and job["metadata"]["generateName"]
    assert "create -f kubernetes/migrate.yaml" in MIGRATE_JOB.read_text()
    variables = {v["name"]: v for v in container(job)["env"]}
    assert variables["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] == "MIGRATE_DATABASE_URL"
    assert variables["DATABASE_TRANSACTION_POOLING"]["value"] == "0"


def test_every_pod_that_reads_the_database_waits_for_the_releases_migrations(objects):
    for name in DEPLOYMENTS - {"flower"}:
        spec = of_kind(objects, "Deployment")[f"shopflow-{name}"]["spec"]["template"]["spec"]
        [wait] = spec["initContainers"]
        assert wait["command"][:3] == ["python", "manage.py", "wait_for_migrations"], name
        assert wait["image"] == container({"spec": {"template": {"spec": spec}}})["image"]


def test_the_web_is_probed_for_liveness_and_readiness_on_its_own_endpoints(objects):
    web = container(of_kind(objects, "Deployment")["shopflow-web"])
    assert web["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert web["startupProbe"]["httpGet"]["path"] == "/livez"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"  # never /healthz (the broker)


@pytest.mark.parametrize("name", ["worker", "mail", "relay", "beat"])
def test_a_process_without_http_is_live_while_its_loop_vouches_for_it(objects, name):
    probe = container(of_kind(objects, "Deployment")[f"shopflow-{name}"])["livenessProbe"]
    assert probe["exec"]["command"] == ["python", "-m", "core.liveness"]
    config = of_kind(objects, "ConfigMap")["shopflow-config"]["data"]
    assert config["SHOPFLOW_LIVENESS_FILE"].startswith("/tmp/")


def test_the_metrics_directory_is_set_only_where_a_volume_is_mounted_and_workers_serve_it(objects):
    config = of_kind(objects, "ConfigMap")["shopflow-config"]["data"]
    assert "PROMETHEUS_MULTIPROC_DIR" not in config
    for name, deployment in of_kind(objects, "Deployment").items():
        only = container(deployment)
        variables = {v["name"]: v.get("value") for v in only.get("env", [])}
        mounts = {m["mountPath"] for m in only.get("volumeMounts", [])}
        directory = variables.get("PROMETHEUS_MULTIPROC_DIR")
        assert directory is None or directory in mounts, name
        if name in {"shopflow-worker", "shopflow-mail"}:
            port = variables["SHOPFLOW_WORKER_METRICS_PORT"]
            assert directory and {"name": "metrics", "containerPort": int(port)} in only["ports"]
            annotations = deployment["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/port"] == port
