"""The provider interface: one streamed chat completion, cancellable at any await."""

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    # An opaque, tenant-scoped end-user id, forwarded for the provider's abuse tracking.
    end_user: str


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
