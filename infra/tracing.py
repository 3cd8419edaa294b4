"""OpenTelemetry tracing: spans for each step of the chat message path (DESIGN.md).

Off by default: until a tracer provider is set (``configure_tracing``, or a test's), ``tracer``
hands out one shared non-recording span without touching the context (the API's own no-op path
costs a context attach and detach per span: about 4 % of the chat server's CPU for the ~15 spans
of a message). The standard variables turn it on: ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``
or ``none``), or ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` alone
(meaning ``otlp``); the exporter, the batch processor and the resource read the other ``OTEL_*``
variables themselves (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, headers, ...).
"""

import contextlib
import os
from collections.abc import MutableMapping
from typing import Any

from opentelemetry import trace

_api_tracer = trace.get_tracer("chatplatform")
# One non-recording span, as the current span of a block, while no provider is set.
_NO_SPAN = contextlib.nullcontext(trace.INVALID_SPAN)


def _tracing() -> bool:
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


class _Tracer:
    """``start_span`` and ``start_as_current_span`` as the API's tracer has them, free while no
    provider is set (the API's proxy starts tracing through the provider once one is)."""

    def start_span(self, name: str, **options: Any) -> trace.Span:
        return _api_tracer.start_span(name, **options) if _tracing() else trace.INVALID_SPAN

    def start_as_current_span(
        self, name: str, **options: Any
    ) -> contextlib.AbstractContextManager[trace.Span]:
        return _api_tracer.start_as_current_span(name, **options) if _tracing() else _NO_SPAN


tracer = _Tracer()


def use_span(span: trace.Span) -> contextlib.AbstractContextManager[trace.Span]:
    """``span`` as the current span of a block (``trace.use_span``); nothing to do for the
    shared non-recording one."""
    return _NO_SPAN if span is trace.INVALID_SPAN else trace.use_span(span)


def exporter_name(environ: MutableMapping[str, str]) -> str | None:
    """Which span exporter the environment asks for, or None (tracing off)."""
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    name = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not name and (
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        name = "otlp"
    if name in ("", "none"):
        return None
    if name not in ("otlp", "console"):
        raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: this platform ships 'otlp' and 'console'")
    return name


def configure_tracing(environ: MutableMapping[str, str] = os.environ) -> None:
    name = exporter_name(environ)
    if name is None:
        return
    from opentelemetry.sdk.resources import OTEL_SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    else:
        exporter = ConsoleSpanExporter()
    defaults = {} if environ.get(OTEL_SERVICE_NAME) else {"service.name": "chatplatform"}
    provider = TracerProvider(resource=Resource.create(defaults))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def add_trace_ids(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: the current span's trace and span ids on every log line."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict
