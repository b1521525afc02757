"""Tracing is off without OTEL_EXPORTER_OTLP_ENDPOINT, and then costs nothing: no context
to store, no span, no trace in the logs. (On, across processes and hosts:
tests/e2e/test_hosts.py.)"""

import logging

from core import telemetry


def test_off_without_an_endpoint(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    telemetry.telemetry_start("web")

    assert telemetry.telemetry_enabled() is False
    assert telemetry._tracer is None
    assert telemetry.trace_carrier() == {}
    with telemetry.span_continuing("outbox publish x", [{"traceparent": "00-ab-cd-01"}]):
        pass


def test_log_lines_name_no_trace_when_off():
    record = logging.LogRecord(
        "shopflow.audit", logging.INFO, __file__, 1, "order_created", (), None
    )

    assert telemetry.TraceIdFilter().filter(record) is True
    assert record.trace == ""
