"""The provider interface: one streamed chat completion, cancellable at any await."""

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    # OpenAI's chat messages: {role, content}; an assistant's tool calls and the tools' results
    # carry ``tool_calls`` / ``tool_call_id`` too.
    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float
    # An opaque, tenant-scoped end-user id, forwarded for the provider's abuse tracking.
    end_user: str
    # The tools the model may call (OpenAI function definitions); none: a plain answer.
    tools: tuple[dict[str, Any], ...] = ()
    # "none": the model may not call a tool this time (the last round); empty: it may.
    tool_choice: str = ""


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call as it streams: the first names it (``id``, ``name``), the next ones
    add to its ``arguments`` (JSON text); ``index`` tells the calls of one answer apart."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """A piece of the answer; the last chunks carry ``finish_reason`` and ``usage``."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()


class UpstreamError(Exception):
    """The provider failed: before the stream (nothing was generated) or in the middle of it."""


class LLMProvider(Protocol):
    name: str

    def stream(self, request: ChatRequest) -> AsyncGenerator[StreamChunk, None]:
        """Stream the answer. Cancelling the consuming task closes the upstream connection."""
        ...

    def model_name(self, requested: str) -> str:
        """The model that will really answer a request for ``requested``."""
        ...
