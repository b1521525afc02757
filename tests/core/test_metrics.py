"""GET /metrics: the Prometheus text format behind the ops credentials, parsed with
prometheus-client's own parser; the events counted in this process, the states read from
the database at scrape time."""

import base64
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from analytics_app.tasks import record_analytics
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.jobs import order_jobs
from tests.support.metrics import Metrics
from worker.models import Job

pytestmark = pytest.mark.django_db

OPS = "ops:metrics-secret"


@pytest.fixture(autouse=True)
def ops_pair(settings):
    settings.SHOPFLOW_OPS_BASIC_AUTH = ["someone:else", OPS]


def basic(pair: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(pair.encode()).decode()}


def scrape(client) -> Metrics:
    response = client.get("/metrics", **basic(OPS))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return Metrics(response.content.decode())


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("ops:wrong"),
        basic("ops"),
        {"HTTP_AUTHORIZATION": "Basic !!not-base64!!"},
        {"HTTP_AUTHORIZATION": "Bearer " + OPS},
    ],
    ids=["none", "wrong-password", "no-password", "not-base64", "not-basic"],
)
def test_metrics_without_the_ops_credentials_is_401_json_asking_for_basic_auth(
    anon_client, headers
):
    response = anon_client.get("/metrics", **headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic ")
    assert "detail" in response.json()


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_metrics_takes_any_flower_pair_or_a_staff_login_but_not_a_customer(anon_client):
    assert anon_client.get("/metrics", **basic("someone:else")).status_code == 200
    assert logged_in(UserFactory(is_staff=True)).get("/metrics").status_code == 200
    assert logged_in(UserFactory()).get("/metrics").status_code == 401


def test_metrics_with_no_pair_configured_takes_staff_only(anon_client, settings):
    settings.SHOPFLOW_OPS_BASIC_AUTH = []
    assert anon_client.get("/metrics", **basic(OPS)).status_code == 401
    assert logged_in(UserFactory(is_staff=True)).get("/metrics").status_code == 200


def test_wrong_pairs_are_failed_logins_and_too_many_are_refused_even_the_right_one(
    anon_client, settings
):
    """The pairs also open Flower: /metrics is no way around the login throttle."""
    from accounts.models import LoginFailure

    settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED = 3
    for _ in range(3):
        assert anon_client.get("/metrics", **basic("ops:guess")).status_code == 401
    assert LoginFailure.objects.filter(username="ops").count() == 3

    refused = anon_client.get("/metrics", **basic(OPS))

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Try again" in refused.json()["detail"]


def test_metrics_answers_405_to_a_post(anon_client):
    assert anon_client.post("/metrics", **basic(OPS)).status_code == 405


def test_side_effects_pending_and_failed_are_their_kinds_jobs(anon_client, customer, client):
    orders = []
    for _ in range(3):
        cart = cart_with(customer, (ProductFactory(), 1))
        orders.append(client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json"))
    ids = [response.json()["id"] for response in orders]
    order_jobs(ids[0]).update(status="done")
    order_jobs(ids[1]).filter(kind="inventory").update(status="failed")

    metrics = scrape(anon_client)

    assert metrics.value("shopflow_jobs_pending", kind="inventory") == 1
    assert metrics.value("shopflow_jobs_pending", kind="analytics") == 2
    assert metrics.value("shopflow_jobs_failed", kind="inventory") == 1
    assert metrics.value("shopflow_jobs_failed", kind="analytics") == 0


def test_a_side_effect_done_is_observed_once_its_done_record_commits(
    anon_client, customer, client, django_capture_on_commit_callbacks
):
    cart = cart_with(customer, (ProductFactory(), 1))
    order_id = client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json").json()["id"]
    name = "shopflow_side_effect_lag_seconds_count"
    before = scrape(anon_client).value(name, kind="analytics") or 0

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert record_analytics.apply().get() == [str(order_id)]  # a run: claims its job
    assert (scrape(anon_client).value(name, kind="analytics") or 0) == before  # uncommitted
    for callback in callbacks:
        callback()

    assert scrape(anon_client).value(name, kind="analytics") == before + 1


def test_the_jobs_backlog_by_kind_and_the_age_of_the_longest_due(anon_client):
    Job.objects.all().delete()
    assert scrape(anon_client).value("shopflow_jobs_due", kind="inventory") == 0
    assert scrape(anon_client).value("shopflow_jobs_oldest_due_age_seconds", kind="inventory") == 0
    waited = timezone.now() - timedelta(seconds=90)
    Job.objects.create(kind="inventory", key="1", due_at=waited)
    Job.objects.create(kind="inventory", key="2")
    # A retry due later is not a backlog, however long ago it was written; nor is one an
    # attempt holds; nor one done.
    Job.objects.create(kind="inventory", key="3", due_at=timezone.now() + timedelta(minutes=5))
    Job.objects.create(
        kind="inventory",
        key="4",
        due_at=waited,
        leased_until=timezone.now() + timedelta(seconds=60),
    )
    Job.objects.create(kind="inventory", key="5", status="done")
    Job.objects.create(kind="analytics", key="1", status="failed")

    metrics = scrape(anon_client)

    assert metrics.value("shopflow_jobs_due", kind="inventory") == 2
    assert metrics.value("shopflow_jobs_running", kind="inventory") == 1
    assert metrics.value("shopflow_jobs_pending", kind="inventory") == 4  # the retry too
    assert 90 <= metrics.value("shopflow_jobs_oldest_due_age_seconds", kind="inventory") < 120
    assert metrics.value("shopflow_jobs_failed", kind="analytics") == 1
    assert metrics.value("shopflow_jobs_due", kind="analytics") == 0
    assert metrics.value("shopflow_jobs_pending", kind="analytics") == 0


def test_queue_states_are_read_from_the_real_broker_at_scrape_time(anon_client, stoppable_broker):
    """On Redis and RabbitMQ; a queue nothing was sent to (no key in Redis, perhaps not
    declared in RabbitMQ) is there, empty."""
    from tests.support.polling import wait_until
    from worker.celery import app

    with app.producer_or_acquire() as producer:
        for n in range(3):
            app.send_task("nobody.runs.this", args=[n], queue="analytics", producer=producer)

    def analytics_ready():
        ready = scrape(anon_client).value(
            "shopflow_queue_messages", queue="analytics", state="ready"
        )
        return ready == 3

    wait_until(analytics_ready, timeout=10, message="3 messages in analytics")
    metrics = scrape(anon_client)
    for queue in ("emails", "default"):
        assert metrics.value("shopflow_queue_messages", queue=queue, state="ready") == 0
        assert metrics.value("shopflow_queue_oldest_message_age_seconds", queue=queue) == 0


def test_every_series_the_docs_dashboard_and_alert_rules_name_is_served(anon_client):
    """docs/monitoring.md (the alert rules) and docs/grafana/shopflow.json name only series
    /metrics serves (families, with their _total, _bucket, _count and _sum samples)."""
    import json
    import re

    from prometheus_client.parser import text_string_to_metric_families

    from tests.support import PROJECT_DIR

    text = anon_client.get("/metrics", **basic(OPS)).content.decode()
    served = set()
    for family in text_string_to_metric_families(text):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
        served |= {family.name + suffix for suffix in ["", *suffixes.get(family.type, [])]}
    dashboard = json.loads((PROJECT_DIR / "docs/grafana/shopflow.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    docs = (PROJECT_DIR / "docs/monitoring.md").read_text()
    named = set(re.findall(r"shopflow_[a-z_]+[a-z]", " ".join(expressions) + docs))

    assert len(named) > 10
    assert named - served == set()
