"""kubernetes/ as a user applies it, rendered offline by kubectl's own kustomize, and
Kubernetes' probes asked as the kubelet asks them (pkg/probe), of processes a test runs
from the rendered objects' commands: no cluster, the same requests and commands."""

import functools
import http.client
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support import PROJECT_DIR
from tests.support.parts import part_missing
from tests.support.processes import database_url

KUBERNETES = PROJECT_DIR / "kubernetes"
# What a user applies (docs/deploy.md): `kubectl apply -k kubernetes/<each>`.
RENDERINGS = ("base", "overlays/pgbouncer", "migrate", "gateway")
# The overlays on the base: each renders the base's Deployments too.
SHOP_RENDERINGS = ("base", "overlays/pgbouncer")
KUBELET_VERSION = "1.33"
POD_IP = "10.244.1.7"  # the address a probe names as Host: never one of ALLOWED_HOSTS
# $(VAR) in an env value, as the kubelet expands it; $$ is a literal $.
REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@functools.cache
def rendered(directory: str) -> tuple[dict, ...]:
    """`kubectl kustomize kubernetes/<directory>`: the objects `kubectl apply -k` sends."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        part_missing("kubectl (its kustomize renders kubernetes/)")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory}: {result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(objects, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def objects_of(rendering: str) -> list[dict]:
    return list(rendered(rendering))


def shop_deployments(rendering: str = "base") -> dict[str, dict]:
    """The rendering's Deployments of the Shopflow image (PgBouncer's aside), by name."""
    deployments = of_kind(objects_of(rendering), "Deployment")
    return {name: d for name, d in deployments.items() if name != "shopflow-pgbouncer"}


def container(workload: dict) -> dict:
    """The one container of a Deployment's or a Job's pod."""
    [only] = workload["spec"]["template"]["spec"]["containers"]
    return only


def pod_spec(deployment: str, rendering: str = "base") -> dict:
    return of_kind(rendered(rendering), "Deployment")[deployment]["spec"]["template"]["spec"]


def deployment_container(deployment: str, rendering: str = "base") -> dict:
    [container] = pod_spec(deployment, rendering)["containers"]
    return container


def pod_secret(**values: str) -> dict[str, str]:
    """The Secret shopflow-secrets as docs/deploy.md makes it, of this test's database and
    fresh credentials; `values` replace or add keys."""
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url(),
        "REDIS_ADDRESS": "127.0.0.1:6379",
        "REDIS_PASSWORD": "",
        "FLOWER_BASIC_AUTH": "ops:" + secrets.token_urlsafe(16),
        **values,
    }


def pod_env(
    container: dict, *, tmp_path: Path, secret: dict[str, str], rendering: str = "base", **overrides
) -> dict[str, str]:
    """The container's environment as the kubelet makes it: the ConfigMap and the Secret
    (envFrom), then the container's own `env`, each value's $(VAR) expanded and each
    secretKeyRef read (an optional key the Secret lacks is skipped); `overrides` last."""
    config = of_kind(rendered(rendering), "ConfigMap")["shopflow-config"]
    env = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG"}}
    env.update({**config["data"], **secret, "PYTHONUNBUFFERED": "1"})
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = REFERENCE.sub(
                lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]), variable["value"]
            )
        elif (ref := variable["valueFrom"]["secretKeyRef"])["key"] in secret:
            env[variable["name"]] = secret[ref["key"]]
        else:
            assert ref.get("optional"), f"the Secret has no {ref['key']}"
    # The pod's own paths live in the test's directory.
    for name in ("SHOPFLOW_LIVENESS_FILE", "PROMETHEUS_MULTIPROC_DIR"):
        if name in env:
            env[name] = str(tmp_path / name.lower())
    (tmp_path / "prometheus_multiproc_dir").mkdir(exist_ok=True)
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def with_option(command: list[str], option: str, value: str) -> list[str]:
    """The command with `option`'s value replaced (gunicorn adds a second --bind)."""
    at = command.index(option)
    return [*command[: at + 1], value, *command[at + 2 :]]


def in_this_python(command: list[str]) -> list[str]:
    """The manifest's command run by this interpreter (the image has them on PATH)."""
    if command[0] == "python":
        return [sys.executable, *command[1:]]
    return [sys.executable, "-m", *command]


def http_probe(probe: dict, container: dict, *, host_port: int) -> int:
    """The status a probe's httpGet gets, sent as the kubelet sends it: to the pod's
    address (here loopback, with the pod's IP as Host), with its User-Agent, Accept and
    the probe's own httpHeaders, no keep-alive. The kubelet counts 200-399 a success, and
    no answer within timeoutSeconds a failure: 0 here."""
    get = probe["httpGet"]
    port = get["port"]
    if isinstance(port, str):
        [port] = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    headers = {
        "Host": f"{POD_IP}:{port}",
        "User-Agent": f"kube-probe/{KUBELET_VERSION}",
        "Accept": "*/*",
        "Connection": "close",
        **{h["name"]: h["value"] for h in get.get("httpHeaders", [])},
    }
    timeout = probe.get("timeoutSeconds", 1)
    conn = http.client.HTTPConnection("127.0.0.1", host_port, timeout=timeout)
    try:
        conn.request("GET", get["path"], headers=headers)
        return conn.getresponse().status
    except TimeoutError:
        return 0
    finally:
        conn.close()


def exec_probe(probe: dict, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The probe's exec command, in the container's environment and working directory."""
    return subprocess.run(
        in_this_python(probe["exec"]["command"]),
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=probe.get("timeoutSeconds", 1),
    )
