"""One answer streamed from a provider: coalesced token frames, cancellation, the outcome.

Nothing here touches the database: the turn is prepared before the stream starts
(``chat.services.turn_begin``) and recorded once after it ends (``chat.services.turn_record``).
"""

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from billing.pricing import Price
from chat.gateway.llm import ChatRequest, LLMProvider, UpstreamError, Usage
from chat.gateway.llm.tokens import estimate_prompt_tokens, estimate_tokens
from chatplatform.safe_json import storable

log = structlog.stdlib.get_logger(__name__)

SendFrame = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PreparedTurn:
    tenant_id: int
    tenant_slug: str
    user_id: int
    conversation_id: int
    user_message_id: int
    answer_message_id: int
    client_id: uuid.UUID
    content: str
    request: ChatRequest
    price: Price
    route: str = ""
    fallback_from: str = ""  # the model the circuit breaker took this turn away from
    # Messages the conversation's summary covers, and whether recent ones did not fit the context.
    summary_message_count: int = 0
    context_overflow: bool = False
    variant_id: int | None = None  # the conversation's A/B variant
    message_count: int = 0  # the conversation's messages before this turn
    # The knowledge-base passages in the context, as the client cites them (``done.sources``).
    sources: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    text: str
    finish_reason: str
    usage: Usage
    cost_usd: Decimal
    ttft_ms: int | None
    latency_ms: int
    error: str | None = None
    cached: bool = False  # answered from the response cache


class TokenFrames:
    """Coalesces text deltas into ``token`` frames: the first at once (time to first token is
    what users feel), then at most one frame per interval, and never holds text longer than
    that interval even when the upstream pauses."""

    def __init__(self, send: SendFrame, *, message_id: int, interval: float) -> None:
        self._send = send
        self._message_id = message_id
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._buffer: list[str] = []
        self._lock = asyncio.Lock()
        self._last_flush = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timed_flush: asyncio.Task[None] | None = None
        self.seq = 0

    async def push(self, text: str) -> None:
        self._buffer.append(text)
        wait = self._last_flush + self._interval - self._loop.time()
        if self.seq == 0 or wait <= 0:
            await self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(wait, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timed_flush = asyncio.ensure_future(self.flush())

    async def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._lock:
            if not self._buffer:
                return
            text = "".join(self._buffer)
            self._buffer.clear()
            self.seq += 1
            self._last_flush = self._loop.time()
            frame = {"type": "token", "message_id": self._message_id, "seq": self.seq, "content": text}
            await self._send(frame)

    async def close(self) -> None:
        """Send what is still buffered; after this no frame is sent."""
        if self._timed_flush is not None:
            await self._timed_flush
        await self.flush()


def _uncancel() -> None:
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _finish_reason(upstream: str | None) -> str:
    # OpenAI also reports content_filter / tool_calls; to a chat client those are a stop.
    return "length" if upstream == "length" else "stop"


async def stream_answer(
    *, provider: LLMProvider, turn: PreparedTurn, frames: TokenFrames, started_at: float
) -> Outcome:
    """Stream ``turn`` into ``frames``. Cancelling the task running this ends the answer with
    ``finish_reason="cancelled"`` (the upstream stream is closed on the way out) instead of
    raising, so the caller always gets an outcome to record."""
    loop = asyncio.get_running_loop()
    parts: list[str] = []
    first_token_at: float | None = None
    upstream_finish: str | None = None
    usage: Usage | None = None
    error: str | None = None
    cancelled = False
    try:
        async with contextlib.aclosing(provider.stream(turn.request)) as chunks:
            async for chunk in chunks:
                if chunk.text:
                    if first_token_at is None:
                        first_token_at = loop.time()
                    # Kept whatever the model sends (it is paid for); what PostgreSQL and Redis
                    # cannot store (a NUL, a lone surrogate) is replaced.
                    text = storable(chunk.text)
                    parts.append(text)
                    await frames.push(text)
                if chunk.finish_reason:
                    upstream_finish = chunk.finish_reason
                if chunk.usage:
                    usage = chunk.usage
    except asyncio.CancelledError:
        _uncancel()
        cancelled = True
    except UpstreamError as exc:
        error = str(exc)
    except Exception as exc:
        # A bug must not lose the answer or its usage: it ends like an upstream failure.
        log.exception("chat.stream_failed")
        error = f"internal error: {type(exc).__name__}"
    try:
        await frames.close()
    except asyncio.CancelledError:
        # A cancel that lands after the upstream finished changes nothing about the answer.
        _uncancel()

    text = "".join(parts)
    if cancelled:
        finish_reason = "cancelled"
    elif error is not None:
        finish_reason = "error"
    else:
        finish_reason = _finish_reason(upstream_finish)
    if usage is None:
        # No usage from the provider: count what it surely processed. A request that failed
        # before producing anything was not billed; a cancelled one read its whole prompt.
        prompt_read = bool(parts) or cancelled
        usage = Usage(
            input_tokens=estimate_prompt_tokens(turn.request.messages) if prompt_read else 0,
            output_tokens=estimate_tokens(text),
            estimated=True,
        )
    ended_at = loop.time()
    return Outcome(
        text=text,
        finish_reason=finish_reason,
        usage=usage,
        cost_usd=turn.price.cost(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_input_tokens=usage.cached_input_tokens,
        ),
        ttft_ms=None if first_token_at is None else round((first_token_at - started_at) * 1000),
        latency_ms=round((ended_at - started_at) * 1000),
        error=error,
    )


def cancelled_before_start(turn: PreparedTurn, *, started_at: float) -> Outcome:
    """The outcome of a turn cancelled before its request went upstream: nothing to bill."""
    elapsed = asyncio.get_running_loop().time() - started_at
    return Outcome(
        text="",
        finish_reason="cancelled",
        usage=Usage(input_tokens=0, output_tokens=0),
        cost_usd=turn.price.cost(input_tokens=0, output_tokens=0, cached_input_tokens=0),
        ttft_ms=None,
        latency_ms=round(elapsed * 1000),
    )


def cached_outcome(turn: PreparedTurn, text: str, *, started_at: float) -> Outcome:
    """A cache hit: the whole answer at once, no upstream call, no tokens."""
    elapsed = round((asyncio.get_running_loop().time() - started_at) * 1000)
    return Outcome(
        text=text,
        finish_reason="stop",
        usage=Usage(input_tokens=0, output_tokens=0),
        cost_usd=turn.price.cost(input_tokens=0, output_tokens=0, cached_input_tokens=0),
        ttft_ms=elapsed,
        latency_ms=elapsed,
        cached=True,
    )
