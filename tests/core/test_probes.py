"""GET /livez and /readyz as a prober asks them: by the pod's address over plain HTTP,
with its own headers. They are answered before the Host check and the HTTPS redirect,
and readiness follows the database, never the broker.
tests/deploy/test_kubernetes_probes.py asks the same of a running web process."""

import base64

import pytest
from django.test import Client

from devstack.stack import free_port
from tests.support.brokers import celery_broker

pytestmark = pytest.mark.django_db

# What the kubelet sends (pkg/probe/http): the pod's IP and port as Host.
KUBELET = {
    "HTTP_HOST": "10.244.1.7:8000",
    "HTTP_USER_AGENT": "kube-probe/1.33",
    "HTTP_ACCEPT": "*/*",
    "HTTP_CONNECTION": "close",
}


@pytest.fixture
def production_like(settings):
    settings.ALLOWED_HOSTS = ["shop.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.parametrize("path", ["/livez", "/readyz"])
def test_a_probe_by_the_pods_address_over_plain_http_is_answered(production_like, path):
    response = Client().get(path, **KUBELET)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_any_other_request_by_the_pods_address_is_still_refused(production_like):
    assert Client().get("/api/products/", **KUBELET).status_code == 400  # DisallowedHost
    assert Client().get("/healthz", HTTP_HOST="shop.example.com").status_code == 301


def test_readiness_holds_while_the_broker_is_down_and_healthz_names_it():
    with celery_broker(f"redis://127.0.0.1:{free_port()}/0"):
        ready = Client().get("/readyz")
        health = Client().get("/healthz")

    assert ready.status_code == 200
    assert health.status_code == 503 and "broker" in health.json()["detail"]


@pytest.mark.parametrize("path", ["/livez", "/readyz"])
def test_a_probe_takes_get_and_head_only(path):
    assert Client().head(path).status_code == 200
    response = Client().post(path)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert "POST" in response.json()["detail"]


def test_prometheus_scrapes_metrics_by_the_pods_address_with_its_basic_auth(
    production_like, settings
):
    settings.SHOPFLOW_OPS_BASIC_AUTH = ["ops:a-long-metrics-secret"]
    scrape = {**KUBELET, "HTTP_USER_AGENT": "Prometheus/3.5.0"}

    answered = Client().get("/metrics", **scrape, **basic("ops:a-long-metrics-secret"))
    refused = Client().get("/metrics", **scrape, **basic("ops:wrong"))

    assert answered.status_code == 200 and b"shopflow_jobs_due" in answered.content
    assert refused.status_code == 401
    # Without basic auth (a staff session, from a browser) it takes the usual way.
    assert Client().get("/metrics", **scrape).status_code == 400


def basic(pair: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(pair.encode()).decode()}
