"""Tracing is off without OTEL_EXPORTER_OTLP_ENDPOINT, and then costs nothing: no context
to store, no span, no trace in the logs. (On, across processes and hosts:
tests/e2e/test_hosts.py.)"""

import logging

from opentelemetry.sdk.trace import TracerProvider

from core import telemetry


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
