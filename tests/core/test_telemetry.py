"""Tracing is off without OTEL_EXPORTER_OTLP_ENDPOINT, and then costs nothing: no context
to store, no span, no trace in the logs. (On, across processes and hosts:
tests/e2e/test_hosts.py.)"""

import logging
from urllib.parse import unquote

import pytest
from django.test import Client
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core import telemetry
from notifications.unsubscribe_links import unsubscribe_url
from tests.factories import UserFactory


def test_off_without_an_endpoint(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    telemetry.telemetry_start("web")

    assert telemetry.telemetry_enabled() is False
    assert telemetry._tracer is None
    assert telemetry.trace_carrier() == {}
    with telemetry.span_continuing("outbox publish x", [{"traceparent": "00-ab-cd-01"}]):
        pass


def test_log_lines_name_no_trace_when_off(caplog):
    logging.getLogger("shopflow.audit").warning("order_created")

    assert caplog.records[-1].trace == ""


def test_log_lines_inside_a_span_name_its_trace(caplog, monkeypatch):
    tracer = TracerProvider().get_tracer("test")  # not the global one: nothing else changes
    monkeypatch.setattr(telemetry, "_tracer", tracer)

    with tracer.start_as_current_span("request") as span:
        logging.getLogger("shopflow.audit").warning("order_created")
    logging.getLogger("shopflow.audit").warning("after the span")

    inside, after = caplog.records[-2:]
    assert inside.trace == f" trace={span.get_span_context().trace_id:032x}"
    assert after.trace == ""


def test_the_trace_field_is_installed_once():
    installed = logging.getLogRecordFactory()
    telemetry.trace_ids_in_logs()

    assert logging.getLogRecordFactory() is installed


@pytest.fixture
def django_spans():
    """The spans of Django's instrumentation as the project sets it up, kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.django_instrument(tracer_provider=provider)
    yield exporter
    DjangoInstrumentor().uninstrument()


@pytest.mark.django_db
def test_no_span_keeps_a_token_of_a_url(django_spans):
    user = UserFactory()
    link = unsubscribe_url(user_id=user.pk, kind="order_placed")
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]  # as the email links it: quoted
    unsubscribe_token = unquote(path.rstrip("/").rsplit("/", 1)[1])
    client = Client()  # after the instrumentation: its middleware is in the chain

    assert client.get(path).status_code == 200
    assert client.get("/api/notifications/stream/?token=s3cret-stream-token").status_code == 401
    assert client.get("/api/notifications/unread-count/").status_code == 401

    spans = django_spans.get_finished_spans()
    assert [span.name for span in spans] == ["GET api/notifications/unread-count/"]
    values = [unquote(str(value)) for span in spans for value in span.attributes.values()]
    assert not [v for v in values if unsubscribe_token in v or "s3cret-stream-token" in v]


@pytest.mark.django_db
def test_only_the_probes_and_the_scrape_themselves_go_untraced(django_spans):
    """The exclusions are anchored: a path that merely contains "metrics" or "livez" is
    traced like any other (unanchored, any such URL lost its span)."""
    client = Client()
    for path in ("/livez", "/readyz", "/metrics"):
        client.get(path)
    client.get("/api/analytics/metrics/")
    client.get("/account/livez-report/")

    spans = django_spans.get_finished_spans()
    urls = [str(span.attributes.get("http.url", "")) for span in spans]
    assert [url.split("testserver", 1)[1] for url in urls] == [
        "/api/analytics/metrics/",
        "/account/livez-report/",
    ]
