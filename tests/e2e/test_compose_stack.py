"""docker-compose.yml run for real, as its header and docs/operations.md tell a user:
`cp .env.example .env`, real secrets, `docker compose up -d --build`, wait for health, the
image's contents and its read-only root, the two `exec` commands of a first run, a new
customer's checkout done with one email at the mail service, Flower behind its
credentials, `--scale worker=2 --scale mail=2`, the broker stopped and started,
placeholders refused, `down -v` leaving nothing. The project's own Dockerfile and compose
file, unchanged; the engine and the stand-in images are tests/support/containers.py's.
One stack for the module: the tests run in order."""

import hashlib
import json

import pytest
import requests

from devstack.stack import port_is_free
from tests.support import PROJECT_DIR
from tests.support.compose_stack import (
    PROJECT_PREFIX,
    ComposeProject,
    messages_to,
    project_copy,
    real_secrets,
)
from tests.support.containers import Engine, HealthcheckRunner, engine_missing, standins_build
from tests.support.parts import part_missing
from tests.support.polling import wait_until
from tests.support.stack import REQUEST_TIMEOUT, checkout_as_a_new_customer, side_effects_of
from tests.support.tab import tab_script_fetched

# Cold, the stand-in images and the first build take minutes (a module fixture's setup);
# one stack for the module: its tests in one process.
pytestmark = [pytest.mark.timeout(900), pytest.mark.xdist_group("compose")]

HEALTHCHECKED = (
    *("postgres", "redis", "web", "worker", "mail", "webhooks", "dispatcher", "beat", "flower"),
)
UNCHANGED = ("Dockerfile", "docker-compose.yml", ".env.example")


def digests(directory) -> dict[str, str]:
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in UNCHANGED}


@pytest.fixture(scope="module")
def engine():
    if missing := engine_missing():
        part_missing(f"the compose stack {missing}")
    engine = Engine().start()
    engine.stale_projects_remove(PROJECT_PREFIX)
    runner = HealthcheckRunner(engine).start()
    try:
        standins_build(engine)
        yield engine
    finally:
        runner.stop()
        engine.stop()


@pytest.fixture(scope="module")
def stack(engine, tmp_path_factory):
    """`cp .env.example .env`, every change-me replaced, `docker compose up -d --build`."""
    directory = project_copy(tmp_path_factory.mktemp("clone"))
    before = digests(directory)
    env_file, chosen = real_secrets((directory / ".env.example").read_text())
    (directory / ".env").write_text(env_file)
    project = ComposeProject(engine, directory)
    project.chosen = chosen
    try:
        project.compose("up", "-d", "--build", timeout=900)
        yield project
    finally:
        project.compose("down", "-v", "--timeout", "30", check=False)
        assert digests(directory) == before == digests(PROJECT_DIR)


def test_every_service_becomes_healthy_as_compose_ps_shows_it(stack):
    stack.wait_healthy(*HEALTHCHECKED)
    [migrate] = stack.containers("migrate")

    assert migrate["ExitCode"] == 0 and migrate["State"] == "exited"
    assert requests.get(f"{stack.base}/readyz", timeout=5).json() == {"status": "ok"}


# Run in the web container: what the image holds, and whether it can write its own files.
LOOK_INSIDE = """
import errno, json, os
print(json.dumps([sorted(os.listdir(".")), sorted(os.listdir("frontend"))]))
try:
    open(os.path.expanduser("~/written"), "w")
except OSError as error:
    print(error.errno == errno.EROFS)
"""


def test_the_image_carries_the_runtime_only_on_a_read_only_root(stack):
    """No tests, benchmark, docs nor the tab's sources (the Dockerfile's stages and
    .dockerignore); the container writes only to its service's tmpfs mounts."""
    looked = stack.compose("exec", "-T", "web", "python", "-c", LOOK_INSIDE)
    listing, read_only = looked.stdout.splitlines()
    top, frontend = json.loads(listing)

    assert "manage.py" in top and not {"tests", "bench", "docs"} & set(top), top
    assert frontend == ["dist"]
    assert read_only == "True"


def test_a_first_run_has_a_catalog_and_a_staff_user_by_the_headers_two_commands(stack):
    loaded = stack.compose("exec", "-T", "web", "python", "manage.py", "load_demo_catalog")
    answers = [
        ("Username", "ops"),
        ("Email address:", "ops@example.com"),
        ("Password:", "an-admin-pass-42"),
        ("Password (again):", "an-admin-pass-42"),
    ]
    createsuperuser = ("exec", "web", "python", "manage.py", "createsuperuser")
    status, shown = stack.in_a_terminal(*createsuperuser, answers=answers)

    assert "Demo catalog" in loaded.stdout
    assert status == 0, shown
    catalog = requests.get(f"{stack.base}/api/products/", timeout=REQUEST_TIMEOUT).json()
    assert catalog["count"] >= 12
    admin = requests.Session()
    admin.get(f"{stack.base}/admin/login/", timeout=REQUEST_TIMEOUT)
    login = {"username": "ops", "password": "an-admin-pass-42", "next": "/admin/"}
    login["csrfmiddlewaretoken"] = admin.cookies["csrftoken"]
    answer = admin.post(f"{stack.base}/admin/login/", data=login, timeout=REQUEST_TIMEOUT)
    assert answer.url.endswith("/admin/") and "Site administration" in answer.text


def test_the_image_serves_the_notifications_tab_it_built_under_hashed_names(stack):
    browser = requests.Session()
    login = {"username": "compose-tab", "password": "apollo-11-ok"}
    body = {**login, "email": "compose-tab@example.com"}
    signed_up = browser.post(f"{stack.base}/api/auth/register/", json=body, timeout=REQUEST_TIMEOUT)
    assert signed_up.status_code == 201
    browser.get(f"{stack.base}/account/login/", timeout=REQUEST_TIMEOUT)
    form = {**login, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
    browser.post(f"{stack.base}/account/login/", data=form, timeout=REQUEST_TIMEOUT)
    tab_script_fetched(browser, stack.base)


def done(api, stack, order_id) -> bool:
    return set(side_effects_of(api, stack, order_id).values()) == {"done"}


def test_a_new_customers_checkout_is_done_with_one_confirmation_email(stack):
    api, order_id = checkout_as_a_new_customer(stack, username="compose-first")

    wait_until(lambda: done(api, stack, order_id), timeout=60, message="side effects")
    emails = messages_to(stack, "compose-first@example.com")
    assert sum(f"#{order_id}" in m["Subject"] for m in emails) == 1, emails


def test_flower_answers_only_with_its_credentials(stack):
    user, password = stack.chosen["FLOWER_BASIC_AUTH"].split(":", 1)

    assert requests.get(f"{stack.flower}/", timeout=REQUEST_TIMEOUT).status_code == 401
    answer = requests.get(f"{stack.flower}/", auth=(user, password), timeout=REQUEST_TIMEOUT)
    assert answer.status_code == 200


def test_scaled_out_workers_are_seen_by_flower_and_an_order_is_done_after(stack):
    stack.compose("up", "-d", "--scale", "worker=2", "--scale", "mail=2", timeout=300)
    flower_auth = tuple(stack.chosen["FLOWER_BASIC_AUTH"].split(":", 1))

    def workers() -> int:
        answer = requests.get(f"{stack.flower}/api/workers?refresh=1", auth=flower_auth, timeout=30)
        return len(answer.json()) if answer.ok else 0

    # worker and mail twice each, and the webhooks worker
    wait_until(lambda: workers() == 5, timeout=120, interval=2, message="Flower to see 5")
    assert len(stack.containers("worker")) == len(stack.containers("mail")) == 2
    api, order_id = checkout_as_a_new_customer(stack, username="compose-scaled")
    wait_until(lambda: done(api, stack, order_id), timeout=60, message="side effects")


def test_with_the_broker_stopped_checkouts_succeed_and_are_done_once_when_it_is_back(stack):
    stack.compose("stop", "redis")
    orders = [checkout_as_a_new_customer(stack, username=f"outage-{n}") for n in range(3)]
    [web] = stack.containers("web")

    assert requests.get(f"{stack.base}/readyz", timeout=REQUEST_TIMEOUT).status_code == 200
    assert stack.engine.podman("healthcheck", "run", web["Id"], check=False).returncode == 0
    health = requests.get(f"{stack.base}/healthz", timeout=REQUEST_TIMEOUT)
    assert health.status_code == 503 and "broker" in health.json()["detail"]

    stack.compose("start", "redis")
    wait_until(
        lambda: all(done(api, stack, order_id) for api, order_id in orders),
        timeout=120,
        interval=1,
        message="the outage's orders to be done",
    )
    for n, (_, order_id) in enumerate(orders):
        emails = messages_to(stack, f"outage-{n}@example.com")
        assert sum(f"#{order_id}" in m["Subject"] for m in emails) == 1, emails


def test_the_examples_placeholders_left_in_env_stop_a_service_in_one_line(stack):
    example = (stack.directory / ".env.example").read_text()
    configured = (stack.directory / ".env").read_text()
    (stack.directory / ".env").write_text(example)
    try:
        refused = stack.compose("run", "--rm", "--no-deps", "migrate", check=False)
    finally:
        (stack.directory / ".env").write_text(configured)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    output = refused.stdout + refused.stderr
    [line] = [line for line in output.splitlines() if "change-me" in line]
    assert line.startswith("DJANGO_SECRET_KEY still holds the placeholder")


def test_down_with_volumes_leaves_no_container_or_volume(stack):
    assert stack.volumes()
    stack.compose("down", "-v", "--timeout", "30")

    assert stack.containers() == [] and stack.volumes() == []
    wait_until(
        lambda: all(port_is_free(port) for port in stack.ports.values()),
        timeout=30,
        message="the published ports to be released",
    )
