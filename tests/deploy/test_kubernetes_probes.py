"""The probes of kubernetes/ as `kubectl kustomize` renders it (the base, and the PgBouncer
overlay where the database is reached otherwise), asked of running processes as the
kubelet asks them (tests/support/kubelet.py): each process started with the rendered
command and the pod's environment (ConfigMap, Secret, env), on this test's database and a
Redis of its own. The web stays ready with the broker down and stops within its grace; a
busy worker stays live, a stuck one (SIGSTOP) does not; the release's pods wait for its
migrations, and behind PgBouncer for the role's bounds; Flower stops at once without its
broker."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from celery import Celery
from django.db import connection

from config.settings.database import server_bounds_ms
from devstack.stack import free_port
from tests.support import PROJECT_DIR
from tests.support.brokers import RedisServer
from tests.support.kubelet import (
    SHOP_RENDERINGS,
    deployment_container,
    exec_probe,
    http_probe,
    in_this_python,
    of_kind,
    pod_env,
    pod_secret,
    pod_spec,
    rendered,
    with_option,
)
from tests.support.parts import part_missing
from tests.support.pgbouncer import PgBouncer, bounds_on_the_role
from tests.support.polling import wait_until
from tests.support.processes import ServiceProcess

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# A login whose body never comes: the API thread that reads it waits.
STALLED_REQUEST = (
    b"POST /api/auth/token/ HTTP/1.1\r\nHost: shop.example.com\r\n"
    b"X-Forwarded-Proto: https\r\nContent-Type: application/json\r\n"
    b"Content-Length: 99\r\n\r\n{"
)

# Short enough to see a stuck process lapse within seconds (beat's heartbeat covers two of its
# 5 s loops at the least).
LIVENESS_SECONDS = "3"
# How often stays_live asks a probe: more often than a kubelet (every few seconds).
PROBE_PERIOD_SECONDS = 0.5
READY = {
    "web": b"Application startup complete",
    "worker": b"ready.",
    "mail": b"ready.",
    "dispatcher": b"dispatcher ready.",
    "beat": b"Scheduler: ",  # worker.beat: it sends, or it stands by
    "flower": b"Visit me at",
}


class PodProcess(ServiceProcess):
    """A container's command from the manifest, run here."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path):
        super().__init__(env, log_path)
        self.ready_marker = READY[name]
        self.what = f"the {name} container"
        self._argv = argv

    def argv(self) -> list[str]:
        return self._argv


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


PGBOUNCER_OVERLAY = "overlays/pgbouncer"


@pytest.fixture
def overlay_pgbouncer():
    """The overlay's PgBouncer: its pgbouncer.ini as rendered, run by Debian's pgbouncer
    in front of this test's PostgreSQL."""
    if not shutil.which("pgbouncer"):
        part_missing("needs Debian's pgbouncer (CI installs it)")
    configs = of_kind(rendered(PGBOUNCER_OVERLAY), "ConfigMap").values()
    [ini] = [c["data"]["pgbouncer.ini"] for c in configs if "pgbouncer.ini" in c["data"]]
    bouncer = PgBouncer(pool_size=0, shipped=ini).start()
    yield bouncer
    bouncer.stop()


def through(bouncer: PgBouncer) -> dict[str, str]:
    """The Secret's DATABASE_URL through `bouncer`."""
    return {"DATABASE_URL": bouncer.url(connection.settings_dict["NAME"])}


@pytest.fixture(params=SHOP_RENDERINGS)
def shop(request):
    """A rendering whose pods reach the database their own way, and the Secret's keys for
    it: the base, straight to PostgreSQL; the PgBouncer overlay through its PgBouncer, the
    role's bounds set as docs/deploy.md says."""
    if request.param != PGBOUNCER_OVERLAY:
        yield request.param, {}
        return
    bouncer = request.getfixturevalue("overlay_pgbouncer")
    with bounds_on_the_role(server_bounds_ms()):
        yield request.param, through(bouncer)


@pytest.fixture
def pod(tmp_path, redis_server):
    started = []

    def start(name: str, *extra: str, bind="", ready=True, rendering="base", secret=(), **env):
        """The container's process, once it says it is ready (unless `ready` is False)."""
        container = deployment_container(f"shopflow-{name}", rendering)
        keys = pod_secret(REDIS_ADDRESS=f"127.0.0.1:{redis_server.port}", **dict(secret))
        environment = pod_env(container, tmp_path=tmp_path, secret=keys, rendering=rendering, **env)
        command = container["command"]
        if bind:  # the web's port: one of the test's, not the pod's 8000
            command = with_option(command, "--bind", bind)
        argv = [*in_this_python(command), *extra]
        log = tmp_path / f"{name}-{len(started)}.log"
        process = PodProcess(name, argv, environment, log)
        if not ready:
            process.ready_marker = b""
        process.start()
        started.append(process)
        return process, container, environment

    yield start
    for process in started:
        if process.process.poll() is None:  # one the test stopped is gone
            os.killpg(process.process.pid, signal.SIGCONT)  # a frozen one cannot stop itself
        process.stop()


def start_web(pod, **options):
    port = free_port()
    web, container, _ = pod("web", bind=f"127.0.0.1:{port}", WEB_CONCURRENCY=1, **options)
    return web, container, port


def test_the_web_is_live_and_ready_by_its_pod_address_without_broker_and_stops_in_its_grace(
    pod, redis_server, shop
):
    rendering, secret = shop
    web, container, port = start_web(pod, rendering=rendering, secret=secret)
    probes = ("startupProbe", "livenessProbe", "readinessProbe")

    for probe in probes:
        assert http_probe(container[probe], container, host_port=port) == 200, probe

    redis_server.stop()

    assert http_probe(container["readinessProbe"], container, host_port=port) == 200
    assert http_probe(container["livenessProbe"], container, host_port=port) == 200
    # The kubelet's SIGTERM comes after the preStop pause, within the pod's grace.
    grace = pod_spec("shopflow-web", rendering)["terminationGracePeriodSeconds"]
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    web.process.terminate()
    assert web.process.wait(timeout=grace - pause) == 0


def test_a_web_whose_database_does_not_answer_is_live_but_not_ready(pod):
    closed = free_port()  # nothing listens there
    unreachable = {"DATABASE_URL": f"postgres://shop:x@127.0.0.1:{closed}/shop"}
    _, container, port = start_web(pod, secret=unreachable)

    assert http_probe(container["readinessProbe"], container, host_port=port) == 503
    assert http_probe(container["livenessProbe"], container, host_port=port) == 200


def alive_until(env) -> float:
    """How many seconds ahead the process's heartbeat reaches (-inf: never did)."""
    path = env["SHOPFLOW_LIVENESS_FILE"]
    return os.stat(path).st_mtime - time.time() if os.path.exists(path) else float("-inf")


def marked_by_its_loop(env) -> bool:
    """The file holds a loop's mark, not the heartbeat for a wait (minutes)."""
    return 0 < alive_until(env) < 60


def marked_for_a_wait(env) -> bool:
    return alive_until(env) > 600


def stays_live(probe, env, *, seconds: float) -> None:
    """The probe passes every time it is asked for `seconds` (more often than a kubelet
    asks): the behaviour under test is that it never fails meanwhile."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        result = exec_probe(probe, env)
        assert result.returncode == 0, result.stderr
        # The probe is asked on a period for the whole span, as a kubelet asks it, not
        # until some state comes.
        time.sleep(PROBE_PERIOD_SECONDS)  # a fixed wait is the point: the probe's period


def lapses_when_stopped_and_recovers(process, probe, env) -> None:
    """SIGSTOP freezes the main process as a deadlock or a paused VM would."""
    os.kill(process.process.pid, signal.SIGSTOP)
    wait_until(
        lambda: exec_probe(probe, env).returncode == 1,
        timeout=30,
        message="the stopped process's liveness to lapse",
    )
    os.kill(process.process.pid, signal.SIGCONT)
    wait_until(lambda: exec_probe(probe, env).returncode == 0, timeout=30)


@pytest.mark.parametrize(("name", "queue"), [("worker", "default"), ("mail", "emails")])
def test_a_busy_worker_stays_live_a_stuck_one_does_not_nor_one_waiting_for_its_broker(
    pod, redis_server, tmp_path, name, queue
):
    window = float(LIVENESS_SECONDS)
    one_process = ("--concurrency", "1", "--include", "tests.e2e.worker_tasks")
    worker, container, env = pod(name, *one_process, SHOPFLOW_LIVENESS_SECONDS=LIVENESS_SECONDS)
    probe = container["livenessProbe"]
    wait_until(lambda: marked_by_its_loop(env), timeout=30, message="the loop's first mark")
    assert exec_probe(probe, env).returncode == 0

    # Busy: its one pool process (or thread) runs a task three windows long.
    marker = tmp_path / "started"
    app = Celery(broker=redis_server.url)
    app.send_task("tests.sleeps", args=[3 * window, str(marker)], queue=queue)
    wait_until(marker.exists, timeout=30, message="the long task to start")
    stays_live(probe, env, seconds=2 * window)

    lapses_when_stopped_and_recovers(worker, probe, env)

    # Waiting for its broker, its heartbeat covers the reconnection at once.
    redis_server.stop()
    wait_until(lambda: marked_for_a_wait(env), timeout=30, message="a heartbeat for the wait")
    assert exec_probe(probe, env).returncode == 0


@pytest.mark.parametrize("name", ["dispatcher", "beat"])
def test_dispatcher_and_beat_are_live_while_their_loop_turns_and_lapse_when_stuck(pod, name):
    process, container, env = pod(name, SHOPFLOW_LIVENESS_SECONDS=LIVENESS_SECONDS)
    probe = container["livenessProbe"]
    wait_until(lambda: marked_by_its_loop(env), timeout=30, message="the loop's first mark")

    assert exec_probe(probe, env).returncode == 0
    lapses_when_stopped_and_recovers(process, probe, env)


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_started_before_its_broker_it_is_live_while_it_waits_then_its_loop_beats(
    pod, redis_server, name
):
    """The worker's loop waits for the connection, so its heartbeat covers the wait; beat's
    ticks go on (a publication that fails is logged): either way, live for windows on end."""
    redis_server.stop()
    _, container, env = pod(name, ready=False, SHOPFLOW_LIVENESS_SECONDS=LIVENESS_SECONDS)
    probe = container["livenessProbe"]

    wait_until(lambda: alive_until(env) > 0, timeout=60, message="its first heartbeat")
    stays_live(probe, env, seconds=3 * float(LIVENESS_SECONDS))
    if name == "worker":
        assert marked_for_a_wait(env)

    redis_server.start()  # on the same port
    wait_until(lambda: marked_by_its_loop(env), timeout=90, message="the loop's mark")


def test_a_web_whose_threads_all_wait_is_still_live_but_not_ready(pod):
    """Two requests whose bodies never come hold the two API threads: readiness, which a
    thread answers, times out; liveness, answered on the event loop, does not."""
    _, container, port = start_web(pod, WEB_THREADS=2)
    stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    for request in stalled:  # a customer's request, as the TLS proxy hands it on
        request.sendall(STALLED_REQUEST)
    try:
        wait_until(
            lambda: http_probe(container["readinessProbe"], container, host_port=port) == 0,
            timeout=30,
            message="readiness to time out behind the waiting threads",
        )
        assert http_probe(container["livenessProbe"], container, host_port=port) == 200
    finally:
        for request in stalled:
            request.close()
    wait_until(lambda: http_probe(container["readinessProbe"], container, host_port=port) == 200)


def test_a_releases_pods_wait_for_its_migrations_and_give_up_in_one_line(tmp_path):
    [wait] = pod_spec("shopflow-web")["initContainers"]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'new.sqlite3'}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    argv = [*in_this_python(wait["command"][:3]), "--timeout"]

    gave_up = subprocess.run(
        [*argv, "1"], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert gave_up.returncode == 1
    assert gave_up.stderr.strip().splitlines()[-1].startswith("CommandError: Gave up after 1 s")

    waiting = subprocess.Popen([*argv, "120"], cwd=PROJECT_DIR, env=env)
    try:
        migrate = [sys.executable, "manage.py", "migrate", "--noinput"]
        subprocess.run(migrate, cwd=PROJECT_DIR, env=env, check=True, capture_output=True)
        assert waiting.wait(timeout=60) == 0
    finally:
        waiting.kill()


def init_container(spec: dict, env: dict[str, str]) -> subprocess.CompletedProcess:
    [wait] = spec["initContainers"]
    argv = in_this_python(wait["command"])
    return subprocess.run(
        argv, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_pod_starts_on_postgresql_at_once_and_behind_pgbouncer_once_the_role_is_bounded(
    tmp_path, overlay_pgbouncer
):
    """The base's sessions carry their bounds in their options: its pods start on a
    database no one configured. A pooled session cannot carry them: the overlay's init
    container refuses the pod in one line until they are set on the role and PgBouncer's
    server connections are new (docs/deploy.md)."""
    direct = pod_spec("shopflow-web")
    env = pod_env(direct["initContainers"][0], tmp_path=tmp_path, secret=pod_secret())
    assert init_container(direct, env).returncode == 0

    pooled = pod_spec("shopflow-web", PGBOUNCER_OVERLAY)
    secret = pod_secret(**through(overlay_pgbouncer))
    env = pod_env(
        pooled["initContainers"][0], tmp_path=tmp_path, secret=secret, rendering=PGBOUNCER_OVERLAY
    )
    refused = init_container(pooled, env)
    assert refused.returncode == 1
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith("CommandError: The database's sessions are not bounded as configured")
    )
    with bounds_on_the_role(server_bounds_ms()):
        overlay_pgbouncer.reconnect()
        assert init_container(pooled, env).returncode == 0


def test_flower_is_live_and_ready_by_its_credentials_not_when_stuck_and_stops_without_broker(
    pod, redis_server
):
    flower, container, env = pod("flower", FLOWER_PORT=free_port())
    probes = (container["livenessProbe"], container["readinessProbe"])

    for probe in probes:
        assert exec_probe(probe, env).returncode == 0, exec_probe(probe, env).stderr
    # Its pages want the Secret's pair: the probe gives it, a stranger gets nothing.
    stranger = {**env, "FLOWER_BASIC_AUTH": "ops:guess"}
    assert exec_probe(probes[0], stranger).returncode == 1

    os.kill(flower.process.pid, signal.SIGSTOP)
    try:
        assert exec_probe(probes[0], env).returncode == 1
    finally:
        os.kill(flower.process.pid, signal.SIGCONT)
    wait_until(lambda: exec_probe(probes[1], env).returncode == 0, timeout=30)

    # A broker away for seconds (Flower's event capture has failed three times, a 1, 2 and
    # 4 s wait apart), then the kubelet's SIGTERM: Flower exits at once, no thread of its
    # left retrying the broker for ever (worker/flowerconfig.py).
    redis_server.stop()
    wait_until(lambda: b"trying again in 4 seconds" in flower.log_path.read_bytes(), timeout=30)
    flower.process.terminate()
    assert flower.process.wait(timeout=10) == 0
