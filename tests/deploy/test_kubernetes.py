"""kubernetes/ as `kubectl kustomize` renders what a user applies (the base, the PgBouncer
overlay, the migrate Job, the example route): every object valid against Kubernetes' own
schema, the same commands as docker-compose.yml, the image named once with a real tag,
every pod unprivileged on a read-only root, rollouts and drains that lose nothing, no
secret inline. tests/deploy/test_keda.py checks the workers' scaling by KEDA,
tests/deploy/test_kubernetes_probes.py asks the probes of running processes."""

import re
import shlex
import tomllib
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
from django.conf import settings
from django.urls import resolve
from gunicorn.config import GracefulTimeout

from notifications.urls import websocket_urlpatterns
from tests.support import PROJECT_DIR
from tests.support.compose import DOCKERFILE, option_value
from tests.support.kubelet import (
    KUBERNETES,
    RENDERINGS,
    SHOP_RENDERINGS,
    container,
    objects_of,
    of_kind,
    shop_deployments,
)

KUBERNETES_VERSION = "1.33"  # a release the validator carries the schema of
SECRET_LIKE = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY$|AUTH|_URL$")
# The Deployment of each compose service (migrate is the Job).
DEPLOYMENTS = {"web", "dispatcher", "worker", "mail", "webhooks", "beat", "flower"}
# How long a load balancer may still send to a pod being deleted (endpoints' propagation).
ENDPOINT_PROPAGATION_SECONDS = 5
SHOPFLOW_IMAGE = re.compile(r"/shopflow:")


def pod_specs(objects) -> dict[str, dict]:
    workloads = [*of_kind(objects, "Deployment").values(), *of_kind(objects, "Job").values()]
    return {w["metadata"]["name"]: w["spec"]["template"]["spec"] for w in workloads}


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_every_rendered_object_is_valid_against_its_schema(rendering):
    # Kubernetes' own groups (v1, apps, batch, policy); KEDA's and Gateway API's are CRDs.
    built_in = [o for o in objects_of(rendering) if "." not in o["apiVersion"].rpartition("/")[0]]
    assert built_in or rendering == "gateway"
    for obj in built_in:
        # strict: a field the schema does not know is an error (a typo is not ignored).
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_a_misspelt_field_is_refused_by_the_validation():
    web = shop_deployments()["shopflow-web"]
    broken = {**web, "spec": {**web["spec"], "replica": 2}}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_image_is_named_once_with_the_releases_tag_never_latest():
    version = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["version"]
    named = [p for p in KUBERNETES.rglob("*.yaml") if "newTag:" in p.read_text()]
    assert [p.relative_to(KUBERNETES).as_posix() for p in named] == ["release/kustomization.yaml"]
    images = {
        c["image"]
        for rendering in RENDERINGS
        for spec in pod_specs(objects_of(rendering)).values()
        for c in [*spec.get("initContainers", []), *spec["containers"]]
    }
    shopflow = {image for image in images if SHOPFLOW_IMAGE.search(image)}
    assert len(shopflow) == 1 and shopflow.pop().endswith(f":{version}")
    for image in images:
        assert re.search(r":[\w][\w.-]*$|@sha256:[0-9a-f]{64}$", image), f"{image}: no tag"
        assert not image.endswith(":latest"), image


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_every_pod_runs_unprivileged_on_a_read_only_root(rendering):
    dockerfile_user = re.findall(r"(?m)^USER (\d+):(\d+)$", DOCKERFILE.read_text())
    [(uid, gid)] = dockerfile_user
    for name, spec in pod_specs(objects_of(rendering)).items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["seccompProfile"]["type"] == "RuntimeDefault"
        if name != "shopflow-pgbouncer":  # the Shopflow image's own user
            assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid)), name
        for each in [*spec.get("initContainers", []), *spec["containers"]]:
            assert each["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, (name, each["name"])


def test_a_pod_writes_only_where_its_compose_service_does(services):
    """The compose stack runs every service on a read-only root with these tmpfs mounts,
    for real (tests/e2e/test_compose_stack.py): each pod's emptyDir volumes are the same."""
    for name in DEPLOYMENTS:
        spec = shop_deployments()[f"shopflow-{name}"]["spec"]["template"]["spec"]
        empty = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        mounted = {
            m["mountPath"]
            for m in container({"spec": {"template": {"spec": spec}}}).get("volumeMounts", [])
            if m["name"] in empty
        }
        assert services[name]["read_only"] is True
        assert mounted == set(services[name].get("tmpfs", [])), name


def test_the_web_drains_before_it_stops_and_stops_within_its_grace():
    web = shop_deployments()["shopflow-web"]
    spec = web["spec"]["template"]["spec"]
    pause = container(web)["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = option_value(container(web)["command"], "--graceful-timeout")
    graceful = int(graceful or GracefulTimeout.default)

    assert pause > ENDPOINT_PROPAGATION_SECONDS
    assert spec["terminationGracePeriodSeconds"] > pause + graceful


@pytest.mark.parametrize("name", ["worker", "mail"])
def test_a_stopping_worker_has_longer_than_its_tasks_may_run(name):
    """Warm shutdown: running tasks finish; each is killed at CELERY_TASK_TIME_LIMIT."""
    spec = shop_deployments()[f"shopflow-{name}"]["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] > settings.CELERY_TASK_TIME_LIMIT


@pytest.mark.parametrize("rendering", SHOP_RENDERINGS)
def test_a_drain_takes_one_pod_at_a_time_from_every_replicated_deployment(rendering):
    budgets = of_kind(objects_of(rendering), "PodDisruptionBudget").values()
    scaled = {
        s["spec"]["scaleTargetRef"]["name"]
        for s in of_kind(objects_of(rendering), "ScaledObject").values()
    }
    for name, deployment in of_kind(objects_of(rendering), "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        mine = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        if deployment["spec"].get("replicas", 1) > 1 or name in scaled:
            [budget] = mine
            assert budget["spec"]["maxUnavailable"] == 1, name
    assert "shopflow-web" in {b["metadata"]["name"] for b in budgets}


def test_each_deployment_runs_its_compose_service_command(services):
    deployments = shop_deployments()
    assert set(deployments) == {f"shopflow-{name}" for name in DEPLOYMENTS}
    for name in DEPLOYMENTS:
        assert container(deployments[f"shopflow-{name}"])["command"] == shlex.split(
            services[name]["command"]
        ), name
    job = of_kind(objects_of("migrate"), "Job")["shopflow-migrate"]
    assert container(job)["command"] == shlex.split(services["migrate"]["command"])


def test_the_overlay_puts_pgbouncer_before_the_same_pods():
    """The base's pods carry the bounds in their sessions' options (no pooling); the
    overlay's are the same pods, pooled, before a PgBouncer in transaction mode."""
    base, pooled = (objects_of(r) for r in SHOP_RENDERINGS)
    config = of_kind(base, "ConfigMap")["shopflow-config"]["data"]
    assert "DATABASE_TRANSACTION_POOLING" not in config
    assert of_kind(pooled, "ConfigMap")["shopflow-config"]["data"] == {
        **config,
        "DATABASE_TRANSACTION_POOLING": "1",
    }
    assert shop_deployments(SHOP_RENDERINGS[1]) == shop_deployments()
    [ini] = [
        c["data"]["pgbouncer.ini"]
        for c in of_kind(pooled, "ConfigMap").values()
        if "pgbouncer.ini" in c["data"]
    ]
    assert re.search(r"(?m)^pool_mode = transaction$", ini)
    port = int(re.search(r"(?m)^listen_port = (\d+)$", ini)[1])
    bouncer = of_kind(pooled, "Deployment")["shopflow-pgbouncer"]
    assert container(bouncer)["ports"] == [{"name": "postgres", "containerPort": port}]
    assert (
        of_kind(pooled, "Service")["shopflow-pgbouncer"]["spec"]["ports"][0]["targetPort"]
        == "postgres"
    )


def test_two_beats_run_and_a_rollout_may_overlap_them():
    """One beat sends behind a lease, the other stands by (worker/beat.py): one dead, the
    other sends the next; old and new side by side during a rollout send nothing twice."""
    beat = shop_deployments()["shopflow-beat"]
    assert beat["spec"]["replicas"] == 2
    assert beat["spec"].get("strategy", {}).get("type", "RollingUpdate") == "RollingUpdate"
    assert "shopflow-beat" not in of_kind(objects_of("base"), "ScaledObject")


def test_secrets_come_from_a_secret_never_from_the_file():
    for rendering in RENDERINGS:
        for config in of_kind(objects_of(rendering), "ConfigMap").values():
            assert not {"DJANGO_SECRET_KEY", "DATABASE_URL", "FLOWER_BASIC_AUTH"} & set(
                config["data"]
            )
    workloads = {**shop_deployments(), **of_kind(objects_of("migrate"), "Job")}
    for workload in workloads.values():
        sources = container(workload)["envFrom"]
        assert {"secretRef": {"name": "shopflow-secrets"}} in sources
        for variable in container(workload).get("env", []):
            # Inline values are settings; a secret is referenced, or only named in one.
            if "value" in variable and SECRET_LIKE.search(variable["name"]):
                assert "$(" in (urlsplit(variable["value"]).password or "$("), variable
            if "valueFrom" in variable:
                assert variable["valueFrom"]["secretKeyRef"]["name"] == "shopflow-secrets"


def test_each_release_has_a_migrate_job_run_straight_against_postgresql():
    job = of_kind(objects_of("migrate"), "Job")["shopflow-migrate"]
    # A Job's template cannot change: the last release's goes first (job.yaml says how).
    assert (
        "kubectl delete job shopflow-migrate" in (KUBERNETES / "migrate" / "job.yaml").read_text()
    )
    variables = {v["name"]: v for v in container(job)["env"]}
    # Behind PgBouncer the Secret names PostgreSQL itself there; else DATABASE_URL stays.
    ref = variables["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref["key"] == "MIGRATE_DATABASE_URL" and ref["optional"] is True
    assert variables["DATABASE_TRANSACTION_POOLING"]["value"] == "0"


def test_every_container_of_the_image_is_given_the_broker_production_requires():
    """Production's settings refuse to load without CELERY_BROKER_URL: an init container
    or the migrate Job without it would hold every pod, or the release, at exit 2."""
    for rendering in ("base", "migrate"):
        for name, spec in pod_specs(objects_of(rendering)).items():
            for each in [*spec.get("initContainers", []), *spec["containers"]]:
                if SHOPFLOW_IMAGE.search(each["image"]):
                    named = {variable["name"] for variable in each.get("env", [])}
                    assert "CELERY_BROKER_URL" in named, (name, each["name"])


def test_every_pod_that_reads_the_database_waits_for_the_releases_migrations():
    for name in DEPLOYMENTS - {"flower"}:
        spec = shop_deployments()[f"shopflow-{name}"]["spec"]["template"]["spec"]
        [wait] = spec["initContainers"]
        assert wait["command"][:3] == ["python", "manage.py", "wait_for_migrations"], name
        assert wait["image"] == container({"spec": {"template": {"spec": spec}}})["image"]


def test_the_web_is_probed_for_liveness_and_readiness_on_its_own_endpoints():
    web = container(shop_deployments()["shopflow-web"])
    assert web["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert web["startupProbe"]["httpGet"]["path"] == "/livez"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"  # never /healthz (the broker)


@pytest.mark.parametrize("name", ["worker", "mail", "dispatcher", "beat"])
def test_a_process_without_http_is_live_while_its_loop_beats(name):
    probe = container(shop_deployments()[f"shopflow-{name}"])["livenessProbe"]
    assert probe["exec"]["command"] == ["python", "-m", "core.liveness"]
    config = of_kind(objects_of("base"), "ConfigMap")["shopflow-config"]["data"]
    assert config["SHOPFLOW_LIVENESS_FILE"].startswith("/tmp/")


def test_the_metrics_directory_is_set_only_where_a_volume_is_mounted_and_workers_serve_it():
    config = of_kind(objects_of("base"), "ConfigMap")["shopflow-config"]["data"]
    assert "PROMETHEUS_MULTIPROC_DIR" not in config
    for name, deployment in shop_deployments().items():
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


def test_the_example_route_keeps_the_streams_open_and_bounds_the_rest():
    [route] = of_kind(objects_of("gateway"), "HTTPRoute").values()
    web = of_kind(objects_of("base"), "Service")["shopflow-web"]["spec"]["ports"][0]
    streams, rest = route["spec"]["rules"]
    paths = {m["path"]["value"] for m in streams["matches"]}

    assert paths == {"/ws/", "/api/notifications/stream/"}
    assert resolve("/api/notifications/stream/")  # the SSE view is there
    assert {str(p.pattern) for p in websocket_urlpatterns} == {"ws/notifications/"}
    assert streams["timeouts"] == {"request": "0s"}  # the web ends a stream itself
    assert rest["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    seconds = int(rest["timeouts"]["request"].removesuffix("s"))
    assert settings.DATABASE_SESSION_BOUNDS_MS["statement_timeout"] / 1000 < seconds <= 60
    for rule in (streams, rest):
        assert rule["backendRefs"] == [{"name": "shopflow-web", "port": web["port"]}]
