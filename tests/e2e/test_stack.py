"""The whole stack as `make run` starts it (`manage.py runstack`): gunicorn, the workers,
the dispatcher, beat and Flower as real processes on this test's database, broker and SMTP
server, used through HTTP only (the webhooks with a receiver outside the project); then
SIGTERM, and nothing it started may be left."""

import re
import signal
import subprocess

import psutil
import pytest
import requests
from django.utils import timezone

from devstack import services
from devstack.stack import free_port, redis_answers
from tests.support import PROJECT_DIR
from tests.support.docs_curl import api_docs_curl_section_run
from tests.support.metrics import Metrics
from tests.support.polling import wait_until
from tests.support.processes import subprocess_env
from tests.support.stack import (
    FLOWER_AUTH,
    alive,
    checkout_as_a_new_customer,
    runstack,
    runstack_process,
    side_effects_of,
    stack_env,
)
from tests.support.tab import tab_script_fetched
from tests.support.webhooks import WebhookReceiver
from worker.models import BeatLease, Job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stack(smtp_server, broker_url, tmp_path):
    port, flower_port = free_port(), free_port()
    log_path = tmp_path / "stack.log"
    env = stack_env(
        smtp_server,
        broker_url,
        port,
        flower_port,
        SHOPFLOW_ADMIN_PASSWORD=ADMIN["password"],
        SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK=1,
        WEB_CONCURRENCY=1,
        WORKER_CONCURRENCY=2,
        WEBHOOK_WORKER_CONCURRENCY=4,
    )
    with runstack(env, log_path, port, flower_port) as running:
        yield running


# One stack for the fan-out and the webhooks (a start of make run's stack is some 25 CPU-s
# of the suite's): the checkout first, whose one order the metrics count, then the
# webhooks' own order, then the dispatcher and beat seen at work, then SIGTERM.
@pytest.mark.sqlite_too  # make run's own database: the fan-out end to end on it
@pytest.mark.timeout(600)  # the start and two tests' waits, on a loaded machine
def test_make_run_stack_serves_a_checkout_and_its_webhooks_end_to_end_and_stops_cleanly(
    stack, smtp_server
):
    checkout_fanned_out_and_seen(stack, smtp_server)
    with WebhookReceiver() as receiver:
        webhook_contract_kept(stack, receiver)
    api_docs_curl_section_run(stack, ADMIN["password"])

    # The dispatcher wakes a job committed outside any request (as a shell would): its
    # user is gone, so it ends done with nothing to do.
    stranded = Job.objects.create(kind="welcome_email", key="1000000")
    wait_until(
        lambda: Job.objects.filter(pk=stranded.pk, status=Job.Status.DONE).exists(),
        timeout=30,
        message="the dispatcher to wake the stranded job, a worker to end it",
    )
    # Beat at work: it holds the schedule's lease, renewed at each of its ticks (worker.beat).
    wait_until(
        lambda: BeatLease.objects.filter(expires_at__gt=timezone.now()).exists(),
        timeout=45,
        message="beat to hold the schedule's lease",
    )

    assert_sigterm_stops_everything(stack)


def checkout_fanned_out_and_seen(stack, smtp_server) -> None:
    """A new customer's checkout has its three side effects done and its email sent;
    Flower saw the tasks and the queues behind its basic auth; /metrics counts the order."""
    # Flower sees only the task events sent once it listens: it has, once a worker's
    # heartbeat reached it.
    wait_until(lambda: flower_heard_a_worker(stack), timeout=30, message="Flower to listen")
    api, order_id = checkout_as_a_new_customer(stack)
    wait_until(
        lambda: side_effects_of(api, stack, order_id) == DONE,
        timeout=60,
        message=f"side effects done; log:\n{stack.log()[-4000:]}",
    )
    [email] = [
        m for m in smtp_server.messages if m["Subject"] == f"Your Shopflow order #{order_id}"
    ]
    assert email["To"] == "margaret@example.com"

    # Flower saw the three tasks succeed, and keeps its API and its metrics behind basic auth.
    wait_until(lambda: flower_succeeded(stack) >= TASKS, timeout=30, message="Flower task list")
    assert {requests.get(f"{stack.flower}{p}", timeout=5).status_code for p in PRIVATE} == {401}
    metrics = requests.get(f"{stack.flower}/metrics", auth=FLOWER_AUTH, timeout=5)
    assert metrics.status_code == 200 and "flower_events_total" in metrics.text

    assert_shopflow_metrics_sum_web_and_workers(stack)
    wait_until(
        lambda: flower_queue_names(stack) >= {"default", "emails", "inventory", "analytics"},
        timeout=30,
        message="Flower to list the queue lengths",
    )


# --- The webhooks contract, black-box: the API over HTTP as staff, and a receiver outside
# the project (tests.support.webhooks) verifying every request with the Standard Webhooks
# reference library.

ADMIN = {"username": "admin", "password": "admin-test-secret"}


def webhook_contract_kept(stack, receiver: WebhookReceiver) -> None:
    """Endpoints are staff's; a private address is refused; a test event and an order
    reach the receiver signed and are listed delivered; a redelivery comes under the same
    webhook-id; after a rotation both secrets sign, a 410 disables the endpoint; /metrics
    counts it all."""
    api = f"{stack.base}/api/webhooks"
    staff = staff_session(stack)
    assert requests.get(f"{api}/endpoints/", timeout=5).status_code == 401
    refused = staff.post(
        f"{api}/endpoints/", json={"url": "http://10.0.0.1/", "events": ["order.created"]}
    )
    assert refused.status_code == 400 and "url" in refused.json()
    made = staff.post(
        f"{api}/endpoints/",
        json={"url": receiver.url(), "events": ["order.created"], "description": "ERP"},
    )
    assert made.status_code == 201, made.text
    endpoint = made.json()
    receiver.behave(secrets=[endpoint["secret"]])

    order_delivery = order_and_test_delivered(stack, staff, receiver, endpoint)
    assert staff.post(f"{api}/deliveries/{order_delivery}/redeliver/").status_code == 202
    wait_until(lambda: len(receiver.at("/hook")) == 3, timeout=30, message="the redelivery")
    assert receiver.at("/hook")[-1].id == order_delivery
    rotated_then_gone(stack, staff, receiver, endpoint)

    metrics_counted(stack)


def metrics_counted(stack) -> None:
    """/metrics shows the deliveries' jobs as the engine counts every kind's: the 410's
    failed, none waiting; the worker's runs of them; the queue empty."""
    kind = {"kind": "webhook_delivery"}
    runs = {"task": "webhooks.deliver", "outcome": "success"}
    # The job's end commits before its run ends and is counted (Celery's task_postrun):
    # each figure as its own write lands. Four deliveries: the test event, the order, its
    # redelivery, the 410's.
    wait_until(lambda: shopflow_metrics(stack).value("shopflow_jobs_failed", **kind) == 1)
    wait_until(
        lambda: (shopflow_metrics(stack).value("shopflow_task_runs_total", **runs) or 0) >= 4
    )
    scraped = shopflow_metrics(stack)
    assert scraped.value("shopflow_jobs_due", **kind) == 0
    assert scraped.value("shopflow_queue_messages", queue="webhooks", state="ready") == 0


class Staff(requests.Session):
    def request(self, *args, **kwargs):
        return super().request(*args, **{"timeout": 10, **kwargs})


def staff_session(stack) -> Staff:
    answer = requests.post(f"{stack.base}/api/auth/token/", json=ADMIN, timeout=10)
    staff = Staff()
    staff.headers["Authorization"] = f"Token {answer.json()['token']}"
    return staff


def order_and_test_delivered(stack, staff, receiver, endpoint) -> str:
    """A test event and a customer's checkout reach the receiver, signed, the order as the
    API shows it, and are listed as delivered; the order's webhook-id."""
    api = f"{stack.base}/api/webhooks"
    assert staff.post(f"{api}/endpoints/{endpoint['id']}/test/").status_code == 202
    customer, order_id = checkout_as_a_new_customer(stack, username="hooked")
    wait_until(lambda: len(receiver.at("/hook")) == 2, timeout=60, message=stack.log()[-3000:])
    by_type = {r.event["type"]: r for r in receiver.at("/hook")}
    assert set(by_type) == {"webhook.test", "order.created"}
    assert all(r.verified_by == [endpoint["secret"]] for r in by_type.values())
    order = customer.get(f"{stack.base}/api/orders/{order_id}/", timeout=5).json()
    order.pop("side_effects")
    data = by_type["order.created"].event["data"]
    assert (data.pop("sequence"), data.pop("customer")["email"]) == (1, "hooked@example.com")
    assert data == order

    deliveries = f"{api}/endpoints/{endpoint['id']}/deliveries/"
    wait_until(  # recorded once answered
        lambda: staff.get(deliveries, params={"status": "delivered"}).json()["count"] == 2,
        timeout=30,
    )
    listed = staff.get(deliveries).json()["results"]
    assert [a["status_code"] for a in listed[0]["attempts"]] == [200]
    return by_type["order.created"].id


def rotated_then_gone(stack, staff, receiver, endpoint) -> None:
    """After a rotation both secrets sign; a 410 disables the endpoint."""
    path = f"{stack.base}/api/webhooks/endpoints/{endpoint['id']}/"
    rotated = staff.post(f"{path}rotate-secret/").json()
    receiver.behave(secrets=[endpoint["secret"], rotated["secret"]], status=410)
    staff.post(f"{path}test/")
    wait_until(
        lambda: not staff.get(path).json()["enabled"], timeout=30, message="410 to disable it"
    )
    assert receiver.at("/hook")[-1].verified_by == [endpoint["secret"], rotated["secret"]]
    shown = staff.get(path).json()
    assert shown["disabled_reason"] == "it answered 410 Gone" and "secret" not in shown


def assert_sigterm_stops_everything(stack) -> None:
    """SIGTERM stops everything runstack started; each web process said where it listens,
    and none complained as it stopped."""
    descendants = stack.descendants()
    assert len(descendants) >= 4  # web, worker, beat, flower (and their own children)
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=60) == 0
    wait_until(
        lambda: not any(alive(p) for p in descendants),
        timeout=10,
        message=f"every child to exit: {[p.pid for p in descendants if alive(p)]}",
    )
    assert "runstack | stopped" in stack.log()
    assert f"Listening at: {stack.base} (" in stack.log()
    assert "Error while closing socket" not in stack.log()


DONE = {"confirmation_email": "done", "inventory": "done", "analytics": "done"}
PRIVATE = ("/api/workers", "/metrics")
TASKS = {
    "email_app.send_confirmation_email",
    "store.apply_inventory",
    "analytics_app.record_analytics",
}


def flower_heard_a_worker(stack) -> bool:
    """A worker's online or heartbeat event reached Flower (its flower_worker_online)."""
    events = requests.get(f"{stack.flower}/metrics", auth=FLOWER_AUTH, timeout=5).text
    return bool(re.search(r"^flower_worker_online\{[^}]*\} 1", events, re.M))


def flower_succeeded(stack) -> set[str]:
    tasks = requests.get(f"{stack.flower}/api/tasks", auth=FLOWER_AUTH, timeout=5).json()
    return {t["name"] for t in tasks.values() if t.get("state") == "SUCCESS"}


def assert_shopflow_metrics_sum_web_and_workers(stack) -> None:
    """Shopflow's own /metrics sums the web and worker processes' counts (multiprocess)."""
    assert requests.get(f"{stack.base}/metrics", timeout=5).status_code == 401
    scraped = shopflow_metrics(stack)
    for task in TASKS:
        assert scraped.value("shopflow_task_runs_total", task=task, outcome="success") >= 1
    for kind in DONE:
        assert scraped.value("shopflow_side_effect_lag_seconds_count", kind=kind) == 1
        assert scraped.value("shopflow_jobs_pending", kind=kind) == 0
    assert scraped.value("shopflow_queue_messages", queue="emails", state="ready") is not None


def flower_queue_names(stack) -> set[str]:
    """The Broker tab's queues with their lengths. Flower asks the workers which queues
    they consume once when it starts, possibly before a worker is up or while one is too
    busy to answer in time; its workers refresh (the page's button) asks again."""
    refresh = f"{stack.flower}/api/workers?refresh=1"
    requests.get(refresh, auth=FLOWER_AUTH, timeout=10).raise_for_status()
    url = f"{stack.flower}/api/queues/length"
    queues = requests.get(url, auth=FLOWER_AUTH, timeout=5).json()["active_queues"]
    return {queue["name"] for queue in queues if "messages" in queue}


@pytest.mark.timeout(600)  # its start and stop, on a loaded machine (187 s seen)
def test_make_run_on_embedded_defaults_prints_working_credentials_and_stops_on_ctrl_c(
    tmp_path,
):
    """No Redis answering, no credentials configured: runstack starts its own Redis,
    generates the staff and Flower credentials, prints them, and Ctrl-C (SIGINT) stops
    every process, the embedded Redis included."""
    port, flower_port = free_port(), free_port()
    env = embedded_env(tmp_path, port, flower_port)
    for configured in ("FLOWER_BASIC_AUTH", "SHOPFLOW_ADMIN_PASSWORD"):
        env.pop(configured, None)
    with runstack(env, tmp_path / "stack.log", port, flower_port) as running:
        text = running.log()
        admin_password = re.search(r"user admin, password (\S+)", text).group(1)
        flower_user, flower_password = re.search(r"basic auth (\S+):(\S+)", text).groups()
        redis_port = int(re.search(r"redis://127\.0\.0\.1:(\d+)/0 \(embedded", text).group(1))
        assert redis_answers(f"redis://127.0.0.1:{redis_port}/0")
        assert_printed_last_and_again(text, env, tmp_path / "var", admin_password)

        assert requests.get(f"{running.flower}/api/workers", timeout=5).status_code == 401
        flower = requests.get(
            f"{running.flower}/api/workers", auth=(flower_user, flower_password), timeout=5
        )
        assert flower.status_code == 200

        admin = requests.Session()
        admin.get(f"{running.base}/admin/login/", timeout=5)
        page = admin.post(
            f"{running.base}/admin/login/?next=/admin/",
            data={
                "username": "admin",
                "password": admin_password,
                "csrfmiddlewaretoken": admin.cookies["csrftoken"],
                "next": "/admin/",
            },
            headers={"Referer": f"{running.base}/admin/login/"},
            timeout=10,
        )
        assert "Site administration" in page.text
        tab_script_fetched(admin, running.base)  # built by make, collected by runstack

        descendants = running.descendants()
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(timeout=60) == 0
        wait_until(
            lambda: not any(alive(p) for p in descendants),
            timeout=10,
            message="every child to exit",
        )
        assert not redis_answers(f"redis://127.0.0.1:{redis_port}/0")


def assert_printed_last_and_again(text, env, var_dir, admin_password) -> None:
    """Where things are, printed once every service serves (after their start-up lines),
    and again by make credentials (from runstack_process's SHOPFLOW_VAR_DIR)."""
    where = text.index("Shopflow is running:")
    for ready in services.READY.values():
        assert -1 < text.find(ready) < where, ready
    again = subprocess.run(
        ["make", "-s", "credentials"],
        cwd=PROJECT_DIR,
        env={**env, "SHOPFLOW_VAR_DIR": str(var_dir)},
        capture_output=True,
    )
    assert f"password {admin_password}" in again.stdout.decode()


def embedded_env(tmp_path, port, flower_port):
    """make run's environment on a machine with nothing configured: no Redis answering
    (runstack starts its own), no SMTP server."""
    env = subprocess_env(
        CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0",  # nothing answers there
        PORT=port,
        FLOWER_PORT=flower_port,
        WEB_CONCURRENCY=1,
        WORKER_CONCURRENCY=1,
    )
    env.pop("EMAIL_HOST", None)
    return env


def test_ctrl_c_during_setup_stops_at_once(tmp_path):
    """Before the services run (here: the embedded Redis is up, migrations are going),
    Ctrl-C stops setup there and then; what was started is stopped."""
    port, flower_port = free_port(), free_port()
    env = embedded_env(tmp_path, port, flower_port)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"  # migrations take a while
    log_path = tmp_path / "stack.log"
    process = runstack_process(env, log_path)
    try:
        wait_until(
            lambda: b"Ready to accept connections" in log_path.read_bytes(),
            timeout=60,
            message="the embedded Redis",
        )
        descendants = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGINT)

        # At once, and bounded for a machine running two suites (over 10 s there): setup
        # going on would take minutes and log what the next asserts find missing.
        assert process.wait(timeout=30) == 128 + signal.SIGINT
        text = log_path.read_text()
        assert "SIGINT during setup" in text
        assert "Shopflow is running" not in text
        wait_until(lambda: not any(alive(p) for p in descendants), timeout=10)
    finally:
        if process.poll() is None:
            process.kill()


def shopflow_metrics(stack) -> Metrics:
    """Shopflow's own /metrics, scraped with the ops credentials."""
    return Metrics(requests.get(f"{stack.base}/metrics", auth=FLOWER_AUTH, timeout=5).text)
