"""OpenTelemetry: on when OTEL_EXPORTER_OTLP_ENDPOINT is set, off and free otherwise (no
import of the SDK, no instrumentation, every helper here returns at once). What is traced,
and how a job carries a trace from a checkout to its task: docs/operations.md,
"Tracing"."""

import contextlib
import logging
import os
import socket

_tracer = None  # set once telemetry has started in this process


def telemetry_enabled() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip())


def telemetry_start(service: str) -> None:
    """Start exporting this process's traces, once, if enabled. `service`: what the
    process is (web, dispatcher, worker, beat), the service name's suffix."""
    global _tracer
    if _tracer is not None or not telemetry_enabled():
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or f"shopflow-{service}",
            "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
            "host.name": socket.gethostname(),
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    django_instrument()
    CeleryInstrumentor().instrument()
    PsycopgInstrumentor().instrument()
    RedisInstrumentor().instrument()
    _tracer = trace.get_tracer("shopflow")


def telemetry_flush() -> None:
    """Export the spans this process still holds, now, waiting 5 s at most (a collector
    away must not hold a worker's shutdown up). For a process that ends without running
    atexit, where the SDK would: a prefork pool process ends with os._exit."""
    if _tracer is None:
        return
    from opentelemetry import trace

    trace.get_tracer_provider().force_flush(timeout_millis=5000)


# Untraced: probes and scrapes, and the two URLs carrying a secret a span would keep
# (docs/operations.md, "Tracing"). Each pattern is searched in the URL without its query:
# anchored, so that a URL merely containing "metrics" keeps its span.
UNTRACED_PATHS = ("livez$", "readyz$", "metrics$", "api/notifications/stream/$", "unsubscribe/")
UNTRACED_URLS = ",".join(rf"^https?://[^/]+/{path}" for path in UNTRACED_PATHS)


def django_instrument(tracer_provider=None) -> None:
    """A span per Django request but those of UNTRACED_URLS; the global tracer provider
    unless given one (a test's)."""
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    DjangoInstrumentor().instrument(excluded_urls=UNTRACED_URLS, tracer_provider=tracer_provider)


def trace_carrier() -> dict[str, str]:
    """The current trace context (W3C traceparent), for work done later elsewhere; {} when
    telemetry is off or no span is current."""
    if _tracer is None:
        return {}
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


@contextlib.contextmanager
def span_continuing(name: str, carriers: list[dict]):
    """A span of the trace the first of `carriers` names (its parent that context), linked
    to the traces of the others: one message that publishes the work of many requests.
    Nothing when telemetry is off."""
    if _tracer is None:
        yield
        return
    from opentelemetry import trace
    from opentelemetry.propagate import extract

    contexts = [extract(carrier) for carrier in carriers if carrier]
    links = [trace.Link(trace.get_current_span(c).get_span_context()) for c in contexts[1:]]
    parent = contexts[0] if contexts else None
    with _tracer.start_as_current_span(name, context=parent, links=links):
        yield


def trace_ids_in_logs() -> None:
    """Give every log record of this process `trace`, which the log formats name: " trace=<id>"
    when made inside a span, "" otherwise (and always when telemetry is off). Once per
    process (core.apps); a second call changes nothing."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "gives_trace", False):
        return

    def record_with_trace(*args, **kwargs):
        record = make_record(*args, **kwargs)
        record.trace = _trace_field()
        return record

    record_with_trace.gives_trace = True
    logging.setLogRecordFactory(record_with_trace)


def _trace_field() -> str:
    if _tracer is None:
        return ""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return f" trace={context.trace_id:032x}" if context.is_valid else ""
