"""The compose stack as a user runs it: a copy of the project's files (what git tracks,
as they are in this checkout), the commands of docker-compose.yml's header and
docs/operations.md run by docker-compose 1.29 against the test's engine
(tests/support/containers.py), and what a user then looks at: the services' health, the
shop, Flower and the mail sink on the host's ports the test gives them."""

import json
import os
import pty
import re
import secrets
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import requests

from devstack.stack import free_port
from tests.support import PROJECT_DIR
from tests.support.containers import Engine
from tests.support.polling import wait_until

PLACEHOLDER = "change-me"
PROJECT_PREFIX = "shopflowtest"  # and the test process's pid
# docker-compose.yml's host ports, as a user who runs two stacks on one host moves them:
# free ones of this machine, so that two checkouts' suites run side by side.
HOST_PORTS = ("WEB_HOST_PORT", "FLOWER_HOST_PORT", "MAILPIT_HOST_PORT")


def project_copy(destination: Path) -> Path:
    """What a clone of this checkout holds: tracked files and new ones not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_DIR,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = PROJECT_DIR / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def real_secrets(env_example: str) -> tuple[str, dict[str, str]]:
    """.env.example with every placeholder replaced, as its first line asks; and the
    values chosen (Flower's pair keeps the example's user name)."""
    chosen = {}

    def replace(match: re.Match) -> str:
        key, value = match["key"], match["value"]
        secret = secrets.token_urlsafe(24).replace("-", "x")
        chosen[key] = value.replace(PLACEHOLDER, secret)
        return f"{key}={chosen[key]}"

    pattern = rf"^(?P<key>[A-Z_]+)=(?P<value>.*{PLACEHOLDER}.*)$"
    return re.sub(pattern, replace, env_example, flags=re.M), chosen


class ComposeProject:
    """docker-compose, in the copy's directory, under a project name of its own."""

    def __init__(self, engine: Engine, directory: Path):
        self.engine = engine
        self.directory = directory
        self.name = f"{PROJECT_PREFIX}{os.getpid()}"
        self.ports = {name: free_port() for name in HOST_PORTS}
        self.base = f"http://127.0.0.1:{self.ports['WEB_HOST_PORT']}"  # tests.support.stack's
        self.flower = f"http://127.0.0.1:{self.ports['FLOWER_HOST_PORT']}"
        self.mail = f"http://127.0.0.1:{self.ports['MAILPIT_HOST_PORT']}"
        self.env = {
            **engine.env,
            "COMPOSE_PROJECT_NAME": self.name,
            "SHOPFLOW_IMAGE": self.name,  # its own build, not another checkout's
            **{name: str(port) for name, port in self.ports.items()},
        }

    def compose(self, *args: str, timeout: float = 600, check: bool = True):
        """`docker compose <args>` as the docs spell it, run by docker-compose 1.29."""
        result = subprocess.run(
            ["docker-compose", *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert result.returncode == 0, f"docker compose {' '.join(args)}: {result.stderr}"
        return result

    def in_a_terminal(self, *args: str, answers: list[tuple[str, str]], timeout: float = 120):
        """`docker compose <args>` at a terminal, typing each answer once its prompt shows;
        the exit status and what the terminal showed."""
        primary, secondary = pty.openpty()
        process = subprocess.Popen(
            ["docker-compose", *args],
            cwd=self.directory,
            env=self.env,
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            start_new_session=True,
        )
        os.close(secondary)
        shown, pending = b"", list(answers)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1.0)
            chunk = _read(primary) if ready else b""
            if ready and not chunk:
                break  # the terminal closed: the command ended
            shown += chunk
            if pending and pending[0][0].encode() in shown.rsplit(b"\n", 1)[-1]:
                os.write(primary, pending.pop(0)[1].encode() + b"\r")
        os.close(primary)
        try:
            return process.wait(timeout=30), shown.decode(errors="replace")
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise

    def containers(self, service: str = "") -> list[dict]:
        labels = [f"label=com.docker.compose.project={self.name}"]
        if service:
            labels.append(f"label=com.docker.compose.service={service}")
        filters = [arg for label in labels for arg in ("--filter", label)]
        listed = self.engine.podman("ps", "--all", "--format", "json", *filters)
        return json.loads(listed.stdout or "[]")

    def health(self, service: str) -> list[str]:
        """Each container's health as `docker compose ps` shows it: healthy, starting..."""
        return [
            self.engine.podman(
                "inspect", "--format", "{{.State.Health.Status}}", c["Id"]
            ).stdout.strip()
            for c in self.containers(service)
        ]

    def wait_healthy(self, *services: str, timeout: float = 180) -> None:
        for service in services:
            wait_until(
                lambda service=service: set(self.health(service)) == {"healthy"},
                timeout=timeout,
                interval=1,
                message=f"{service} to be healthy",
            )

    def volumes(self) -> list[str]:
        project = f"label=com.docker.compose.project={self.name}"
        listed = self.engine.podman("volume", "ls", "--format", "{{.Name}}", "--filter", project)
        return listed.stdout.split()


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: the other side closed
        return b""


def messages_to(stack: ComposeProject, address: str) -> list[dict]:
    listed = requests.get(f"{stack.mail}/api/v1/messages", timeout=5).json()["messages"]
    return [m for m in listed if any(to["Address"] == address for to in m["To"])]
