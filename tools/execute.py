"""Running the tool calls a model asked for: arguments parsed and validated against the tool's
JSON Schema (invalid ones are refused, and the model is told why, so it can try again), then the
tool run: an HTTP tool through ``tools.http``, a built-in one through its handler. The model
gets the result, or the error, as the tool message's content; secrets never appear in it."""

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import jsonschema
import structlog

from infra import metrics
from infra.tracing import tracer
from tools.catalog import ToolSpec
from tools.http import ToolCallRefused, call_http_tool

log = structlog.stdlib.get_logger(__name__)

RESULT_MAX_CHARS = 8000  # of a tool's result, in the model's context
BuiltinHandler = Callable[[dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class ToolResult:
    call_id: str
    name: str
    ok: bool
    content: str  # what the model is told
    arguments: dict[str, Any] | None
    error: str = ""
    latency_ms: int = 0


@dataclass
class ToolBox:
    """The tools one turn may call: the tenant's allowed ones, the built-ins bound to this turn."""

    tenant_slug: str
    specs: tuple[ToolSpec, ...]
    builtins: dict[str, BuiltinHandler] = field(default_factory=dict)
    # The tenant lets its users see the arguments in the ``tool`` frames.
    show_arguments: bool = False

    def definitions(self) -> tuple[dict[str, Any], ...]:
        return tuple(spec.openai() for spec in self.specs)

    async def call(self, call_id: str, name: str, raw_arguments: str) -> ToolResult:
        started = time.monotonic()
        spec = next((s for s in self.specs if s.name == name), None)
        arguments: dict[str, Any] | None = None
        with tracer.start_as_current_span("chat.tool", attributes={"chat.tool": name}) as span:
            try:
                if spec is None:
                    raise ToolCallRefused(f"there is no tool named {name!r}")
                arguments = _arguments(spec, raw_arguments)
                if spec.builtin:
                    content = await self.builtins[spec.name](arguments)
                else:
                    content = await call_http_tool(spec, arguments)
                result = ToolResult(call_id, name, True, content[:RESULT_MAX_CHARS], arguments)
            except ToolCallRefused as refused:
                error = str(refused)
                span.set_attribute("chat.tool_error", error)
                result = ToolResult(
                    call_id, name, False, json.dumps({"error": error}), arguments, error=error
                )
        latency_ms = round((time.monotonic() - started) * 1000)
        status = "done" if result.ok else "failed"
        metrics.TOOL_CALLS.labels(self.tenant_slug, name if spec else "(unknown)", status).inc()
        metrics.TOOL_LATENCY.labels(self.tenant_slug, name if spec else "(unknown)").observe(
            latency_ms / 1000
        )
        log.info(
            "chat.tool_call", tool=name, status=status, latency_ms=latency_ms, error=result.error or None
        )
        return replace(result, latency_ms=latency_ms)


def _arguments(spec: ToolSpec, raw: str) -> dict[str, Any]:
    try:
        arguments = json.loads(raw or "{}")
    except ValueError:
        raise ToolCallRefused("the arguments are not valid JSON") from None
    if not isinstance(arguments, dict):
        raise ToolCallRefused("the arguments must be a JSON object")
    try:
        jsonschema.validate(arguments, spec.parameters)
    except jsonschema.ValidationError as invalid:
        where = "/".join(str(p) for p in invalid.absolute_path) or "(the arguments)"
        raise ToolCallRefused(f"invalid arguments at {where}: {invalid.message}") from None
    except jsonschema.SchemaError:
        raise ToolCallRefused("the tool's own schema is invalid") from None
    return arguments
