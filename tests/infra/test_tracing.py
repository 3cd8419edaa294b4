"""OpenTelemetry: one trace per message, a span per step, the trace id in the logs."""

import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infra.tracing import exporter_name
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, reconfigure
from testkit.ws import ask, open_chat, send_message

_exporter = InMemorySpanExporter()


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    # The global provider can be set once per process; no other test module sets it.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    trace.set_tracer_provider(provider)
    yield _exporter


async def test_a_message_is_one_trace_with_a_span_per_step(
    world: World, fake_llm: FakeOpenAI, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    spans.clear()
    with caplog.at_level(logging.INFO):
        done = (await ask(communicator, "trace me [[tokens=5]]"))[-1]
    await communicator.disconnect()

    finished = {span.name: span for span in spans.get_finished_spans()}
    root = finished["chat.message"]
    assert root.attributes is not None
    assert root.attributes["chat.tenant"] == "acme"
    assert root.attributes["chat.conversation_id"] == ready["conversation_id"]
    assert root.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert root.attributes["chat.message_id"] == done["message_id"]
    steps = [
        "chat.memory",
        "chat.config",
        "chat.moderation",
        "chat.routing",
        "chat.context",
    ]
    steps += ["chat.limits_and_budget", "chat.cache", "chat.upstream", "chat.persist"]
    for name in [*steps, "chat.settle"]:
        assert finished[name].context.trace_id == root.context.trace_id, name
    for name in steps:
        assert finished[name].parent is not None and finished[name].parent.span_id == root.context.span_id
    assert finished["chat.routing"].attributes["chat.route"] == "simple"  # type: ignore[index]
    upstream = finished["chat.upstream"].attributes
    assert upstream is not None and upstream["gen_ai.usage.output_tokens"] == 5
    assert upstream["chat.finish_reason"] == "stop"

    # Every line logged on the message's path carries its trace id.
    turn_lines = [
        r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "chat.turn"
    ]
    assert turn_lines and turn_lines[0]["trace_id"] == format(root.context.trace_id, "032x")


async def test_a_refused_message_ends_its_trace(
    world: World, fake_llm: FakeOpenAI, spans: InMemorySpanExporter
) -> None:
    await reconfigure(world.acme, blocked_topics=["lawsuit"])
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    spans.clear()
    await communicator.send_json_to({"type": "message", "content": "", "client_id": "nope"})
    assert (await communicator.receive_json_from())["code"] == "BAD_REQUEST"
    assert spans.get_finished_spans() == ()  # refused by the socket: no message began
    await send_message(communicator, "about my lawsuit")
    assert (await communicator.receive_json_from())["code"] == "BLOCKED_TOPIC"
    await communicator.disconnect()
    finished = {span.name: span for span in spans.get_finished_spans()}
    assert finished["chat.message"].attributes["chat.error_code"] == "BLOCKED_TOPIC"  # type: ignore[index]
    assert set(finished) == {"chat.message", "chat.memory", "chat.config", "chat.moderation"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"OTEL_TRACES_EXPORTER": "none"}, None),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, None),
    ],
)
def test_the_standard_variables_choose_the_exporter(environ: dict[str, str], expected: str | None) -> None:
    assert exporter_name(environ) == expected


def test_an_unknown_exporter_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="zipkin"):
        exporter_name({"OTEL_TRACES_EXPORTER": "zipkin"})
