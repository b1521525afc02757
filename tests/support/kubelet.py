"""Kubernetes' probes asked as the kubelet asks them (pkg/probe), of processes a test
runs from the manifest's own commands: no cluster, the same requests and commands."""

import http.client
import os
import secrets
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.processes import PROJECT_DIR, database_url

MANIFEST = PROJECT_DIR / "kubernetes" / "shopflow.yaml"
KUBELET_VERSION = "1.33"
POD_IP = "10.244.1.7"  # the address a probe names as Host: never one of ALLOWED_HOSTS


def manifest() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc]


def pod_spec(deployment: str) -> dict:
    [found] = [
        o for o in manifest() if o["kind"] == "Deployment" and o["metadata"]["name"] == deployment
    ]
    return found["spec"]["template"]["spec"]


def deployment_container(deployment: str) -> dict:
    [container] = pod_spec(deployment)["containers"]
    return container


def pod_env(container: dict, *, tmp_path: Path, **overrides) -> dict[str, str]:
    """The container's environment as the pod gets it: the ConfigMap, the Secret (made of
    this test's database and the given broker) and the container's own `env`."""
    [config] = [o for o in manifest() if o["kind"] == "ConfigMap"]
    secret = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url(),
        "FLOWER_BASIC_AUTH": "ops:" + secrets.token_urlsafe(16),
    }
    env = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG"}}
    env.update({**config["data"], **secret, "PYTHONUNBUFFERED": "1"})
    env.update({v["name"]: v["value"] for v in container.get("env", []) if "value" in v})
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
