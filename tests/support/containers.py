"""A container engine for the compose test, on this machine: Debian's podman with runc
and cgroupfs (crun fails here: "cgroups in hybrid mode not supported"), behind its Docker
API, which docker-compose 1.29 talks to; and the stand-in images the compose file names
(tests/support/standins/README.md says why and what they keep).

Everything lives under ENGINE_DIR: the engine's configuration, its image store (kept
between runs as a cache: the stand-ins are rebuilt only when their files change, the base
only when missing; podman locks it for the suites of two checkouts side by side), its
networks and each test process's socket. Containers, networks and volumes are the compose
project's, removed by its `down -v`.

podman 4.3 runs healthchecks from systemd timers, which this machine lacks:
HealthcheckRunner runs `podman healthcheck run` for each container at its interval, as
Docker's engine would."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support import PROJECT_DIR
from tests.support.polling import wait_until

ENGINE_DIR = Path(os.environ.get("SHOPFLOW_TEST_CONTAINERS_DIR", "/var/tmp/shopflow-containers"))
STANDINS_DIR = Path(__file__).resolve().parent / "standins"
BASE_IMAGE = "localhost/shopflow-test-base:bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# The Dockerfile's base, as pinned there (every stage's FROM).
PYTHON_BASE = re.search(r"(?m)^FROM (python:\S+)", (PROJECT_DIR / "Dockerfile").read_text())[1]
# Stand-in directory -> the name the compose file or the Dockerfile uses.
STANDINS = {
    "python": f"docker.io/library/{PYTHON_BASE}",
    "postgres": "docker.io/library/postgres:16",
    "redis": "docker.io/library/redis:7",
    "mailpit": "docker.io/axllent/mailpit:latest",
}
TOOLS = ("podman", "runc", "docker-compose", "debootstrap")

CONTAINERS_CONF = """\
[containers]
# podman's default limits are refused by this kernel's runc.
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
network_config_dir = "{root}/networks"
"""
STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{root}/storage"
runroot = "{root}/run"
"""


def engine_missing() -> str:
    """Why containers cannot run here, or ""."""
    if os.geteuid() != 0:
        return "needs root (podman with runc and cgroupfs)"
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    if missing:
        return f"needs {', '.join(missing)} (.ci/run installs Debian's)"
    return ""


class Engine:
    """podman's Docker API on a socket of ENGINE_DIR, and the environment that points
    podman and docker-compose at it."""

    def __init__(self):
        self.socket = ENGINE_DIR / f"podman-{os.getpid()}.sock"
        self.service: subprocess.Popen | None = None
        self.env = {
            **os.environ,
            "CONTAINERS_CONF": str(ENGINE_DIR / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(ENGINE_DIR / "storage.conf"),
            "DOCKER_HOST": f"unix://{self.socket}",
            "COMPOSE_HTTP_TIMEOUT": "300",
        }

    def start(self) -> "Engine":
        (ENGINE_DIR / "networks").mkdir(parents=True, exist_ok=True)
        _write_at_once(ENGINE_DIR / "containers.conf", CONTAINERS_CONF.format(root=ENGINE_DIR))
        _write_at_once(ENGINE_DIR / "storage.conf", STORAGE_CONF.format(root=ENGINE_DIR))
        self.socket.unlink(missing_ok=True)  # this process's, from a run its pid had before
        self.service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{self.socket}"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.socket.with_suffix(".log"), "ab"),  # noqa: SIM115 - the child's
        )
        wait_until(self.socket.exists, timeout=30, message="podman's API socket")
        return self

    def stale_projects_remove(self, prefix: str) -> None:
        """Containers, volumes, networks and images of compose projects named `prefix<pid>`
        whose test process is gone (killed before its `down -v`, or past it: the image);
        a live one's stay."""
        listings = {
            "container": ("ps", "--all", "--format", "{{.Names}}"),
            "volume": ("volume", "ls", "--format", "{{.Name}}"),
            "network": ("network", "ls", "--format", "{{.Name}}"),
            "image": ("images", "--format", "{{.Repository}}"),
        }
        owner = re.compile(rf"^(?:localhost/)?{re.escape(prefix)}(\d+)(?:_|$)")
        for kind, listing in listings.items():
            listed = self.podman(*listing, check=False).stdout.split()
            stale = [
                name
                for name in listed
                if (found := owner.match(name)) and not Path(f"/proc/{found[1]}").exists()
            ]
            if stale:
                self.podman(kind, "rm", "--force", *stale, check=False)

    def stop(self) -> None:
        if self.service and self.service.poll() is None:
            self.service.terminate()
            self.service.wait(timeout=30)
        self.socket.unlink(missing_ok=True)

    def podman(self, *args: str, timeout: float = 600, check: bool = True, **kwargs):
        return subprocess.run(
            ["podman", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            **kwargs,
        )

    def image_label(self, image: str, label: str) -> str | None:
        found = self.podman("image", "inspect", image, check=False)
        if found.returncode != 0:
            return None
        [details] = json.loads(found.stdout)
        return (details.get("Labels") or {}).get(label)


def _write_at_once(path: Path, text: str) -> None:
    """Written whole or not at all (another checkout's suite may be reading it)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.replace(path)


def standins_build(engine: Engine) -> None:
    """The base (debootstrap, once) and every stand-in whose files changed."""
    if engine.podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        base_build(engine)
    # At once: each mostly waits on Debian's mirror (cold, one after the other took 3 min).
    with ThreadPoolExecutor(max_workers=len(STANDINS)) as pool:
        for built in [pool.submit(standin_build, engine, *each) for each in STANDINS.items()]:
            built.result()


def standin_build(engine: Engine, directory: str, tag: str) -> None:
    source = STANDINS_DIR / directory
    digest = hashlib.sha256()
    for path in sorted(source.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    if directory == "python":
        digest.update(HOST_CA_BUNDLE.read_bytes())
    if engine.image_label(tag, "shopflow.standin") == digest.hexdigest():
        return
    with tempfile.TemporaryDirectory(prefix="shopflow-standin-") as context:
        shutil.copytree(source, context, dirs_exist_ok=True)
        if directory == "python":
            shutil.copy(HOST_CA_BUNDLE, Path(context) / "ca-certificates.crt")
        label = f"shopflow.standin={digest.hexdigest()}"
        engine.podman("build", "--quiet", "--tag", tag, "--label", label, context)


def base_build(engine: Engine) -> None:
    with tempfile.TemporaryDirectory(prefix="shopflow-rootfs-") as rootfs:
        subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", rootfs, DEBIAN_MIRROR],
            check=True,
            capture_output=True,
            timeout=900,
        )
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        engine.podman("import", "-", BASE_IMAGE, stdin=tar.stdout)
        assert tar.wait() == 0


class HealthcheckRunner:
    """Runs each running container's healthcheck at its interval, from its start, as
    Docker's engine does (podman 4.3 leaves that to systemd)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="healthchecks", daemon=True)
        self.intervals: dict[str, float] = {}  # container id -> seconds (0: none)
        self.due: dict[str, float] = {}

    def start(self) -> "HealthcheckRunner":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=60)

    def _run(self) -> None:
        while not self.stopped.wait(1.0):
            listed = self.engine.podman("ps", "--format", "json", check=False, timeout=60)
            if listed.returncode != 0:
                continue
            for container in json.loads(listed.stdout or "[]"):
                self._check_if_due(container["Id"])

    def _check_if_due(self, container_id: str) -> None:
        now = time.monotonic()
        if container_id not in self.intervals:
            self.intervals[container_id] = self._interval(container_id)
            self.due[container_id] = now + self.intervals[container_id]
        interval = self.intervals[container_id]
        if interval and now >= self.due[container_id]:
            self.due[container_id] = now + interval
            self.engine.podman("healthcheck", "run", container_id, check=False, timeout=120)

    def _interval(self, container_id: str) -> float:
        found = self.engine.podman(
            "inspect", "--format", "{{json .Config.Healthcheck}}", container_id, check=False
        )
        config = json.loads(found.stdout or "null") if found.returncode == 0 else None
        if not config or config.get("Test", ["NONE"])[0] == "NONE":
            return 0.0
        return (config.get("Interval") or 30_000_000_000) / 1e9
