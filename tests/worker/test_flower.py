"""Flower as Shopflow runs it (worker/flowerconfig.py, worker/flower.py): a real Flower and
a real worker that consumes only the emails queue, on a Redis server of the module's own."""

import subprocess
import sys
import uuid

import pytest
import requests
from kombu import Connection

from tests.support.brokers import RedisServer
from tests.support.polling import wait_until
from tests.support.processes import PROJECT_DIR, FlowerProcess, WorkerProcess, subprocess_env

OPS, WATCHER = ("ops", "flower-ops-secret"), ("watch", "flower-watch-secret")
ROUTED = {"default", "emails", "inventory", "analytics"}


@pytest.fixture(scope="module")
def shop(django_db_setup, django_db_blocker, tmp_path_factory):
    """Flower and an emails-only worker; the inventory queue has three messages nobody takes."""
    logs = tmp_path_factory.mktemp("flower")
    redis_server = RedisServer().start()
    env = subprocess_env(
        CELERY_BROKER_URL=redis_server.url,
        FLOWER_BASIC_AUTH=",".join(":".join(pair) for pair in (OPS, WATCHER)),
        SHOPFLOW_FLOWER_WATCHERS=WATCHER[0],
    )
    with django_db_blocker.unblock():
        worker = WorkerProcess(env, logs / "worker.log", concurrency=1, queues="emails")
    flower = FlowerProcess(env, logs / "flower.log")
    with Connection(redis_server.url) as conn:
        queue = conn.SimpleQueue("inventory")
        for n in range(3):
            queue.put({"n": n})  # ready messages, as Celery's would be
        queue.close()
    try:
        worker.start()
        flower.start()
        yield flower
    finally:
        flower.stop()
        worker.stop()
        redis_server.stop()


def get(flower, path, auth=OPS, **kwargs):
    return requests.get(f"{flower.base}{path}", auth=auth, timeout=10, **kwargs)


def flower_knows_the_worker(flower) -> bool:
    workers = get(flower, "/api/workers", params={"refresh": "1"}).json()
    return any(info.get("active_queues") for info in workers.values())


def test_flower_lists_every_routed_queue_not_only_those_live_workers_consume(shop):
    wait_until(lambda: flower_knows_the_worker(shop), timeout=30, message="Flower to see a worker")

    lengths = get(shop, "/api/queues/length").json()["active_queues"]
    broker_page = get(shop, "/broker")

    assert {q["name"]: q["messages"] for q in lengths} == {
        "default": 0,
        "emails": 0,
        "inventory": 3,
        "analytics": 0,
    }
    assert broker_page.status_code == 200
    assert all(f">{name}<" in broker_page.text for name in ROUTED), broker_page.text[-3000:]


@pytest.mark.parametrize("path", ["/healthcheck", "/metrics", "/api/workers", "/"])
def test_no_flower_page_answers_without_credentials(shop, path):
    assert get(shop, path, auth=None).status_code == 401
    assert get(shop, path, auth=(OPS[0], "wrong")).status_code == 401
    assert get(shop, path, auth=WATCHER).status_code == 200


def test_the_probe_asks_flower_with_its_credentials(shop):
    def probe(pair):
        env = {
            "PATH": "/usr/bin:/bin",
            "FLOWER_BASIC_AUTH": pair,
            "FLOWER_PORT": shop.env["FLOWER_PORT"],
        }
        return subprocess.run(
            [sys.executable, "-m", "core.flowerprobe"],
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    healthy, refused = probe(":".join(OPS)), probe(f"{OPS[0]}:wrong")

    assert (healthy.returncode, healthy.stderr) == (0, "")
    assert refused.returncode == 1
    assert refused.stderr.startswith("flower: http://127.0.0.1:") and "401" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_a_watcher_sees_everything_and_changes_nothing(shop):
    wait_until(lambda: flower_knows_the_worker(shop), timeout=30, message="Flower to see a worker")
    worker_name = next(iter(get(shop, "/api/workers").json()))
    task_id = str(uuid.uuid4())

    def post(path, auth):
        return requests.post(f"{shop.base}{path}", auth=auth, timeout=10)

    assert post(f"/api/task/revoke/{task_id}", WATCHER).status_code == 403
    assert post(f"/api/worker/pool/grow/{worker_name}", WATCHER).status_code == 403
    assert post(f"/api/task/revoke/{task_id}", OPS).status_code == 200
    # The pages show a watcher no controls, and an operator Flower's own.
    assert "Shut Down" not in get(shop, f"/worker/{worker_name}", auth=WATCHER).text
    assert "Shut Down" in get(shop, f"/worker/{worker_name}", auth=OPS).text
