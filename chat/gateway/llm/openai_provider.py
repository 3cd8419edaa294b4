"""Any OpenAI-compatible endpoint through the official SDK's ``AsyncOpenAI``.

The SDK makes the request (auth, base URL, retries before the stream, status errors) through
its custom-request API, ``client.post``; the server-sent events are read from the raw response
and decoded with ``json.loads``. Profiling at a hundred concurrent streams showed the typed path
spending ~100 µs per chunk building pydantic models and ~1 ms per request transforming the
parameters; together they saturated a core.
"""

import asyncio
import contextlib
import itertools
import json
import ssl
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import anyio
import httpx2
import openai
from openai import AsyncOpenAI, AsyncStream

from chat.gateway.llm.base import ChatRequest, StreamChunk, ToolCallDelta, UpstreamError, Usage

# How long the end of a finished stream may take to arrive before the connection is dropped.
_DRAIN_SECONDS = 0.1
# What a broken connection raises while the body streams.
_STREAM_ERRORS = (httpx2.HTTPError, httpx2.StreamError, ssl.SSLError, anyio.EndOfStream)


class OpenAIProvider:
    """Requests go round-robin over several clients, each with its own connection pool:
    httpcore probes every idle connection of a pool (a socket check each) whenever a request
    joins or leaves it, so one pool holding a hundred connections spent ~20 % of the process's
    CPU on probing at a hundred concurrent streams; eight pools cut that eightfold."""

    name = "openai"

    def __init__(self, clients: list[AsyncOpenAI]) -> None:
        self._all = clients
        self._clients = itertools.cycle(clients)

    async def aclose(self) -> None:
        """Close the clients' connections (their event loop is ending)."""
        await asyncio.gather(*(client.close() for client in self._all))

    def model_name(self, requested: str) -> str:
        return requested

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamChunk, None]:
        body = {
            "model": request.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
            "user": request.end_user,
        }
        if request.tools:
            body["tools"] = list(request.tools)
            if request.tool_choice:
                body["tool_choice"] = request.tool_choice
        try:
            # cast_to=Response with stream=True: the SDK returns the response unread.
            upstream = cast(
                httpx2.Response,
                await next(self._clients).post(
                    "/chat/completions",
                    body=body,
                    cast_to=httpx2.Response,
                    stream=True,
                    stream_cls=AsyncStream[Any],
                ),
            )
        except openai.APIError as exc:
            raise UpstreamError(_describe(exc)) from exc
        events = _sse_data(upstream)
        try:
            async for data in events:
                if data == "[DONE]":
                    await _drain(events)
                    return
                chunk = _parse_chunk(json.loads(data))
                if chunk is not None:
                    yield chunk
        except _STREAM_ERRORS as exc:
            raise UpstreamError(f"stream broken: {type(exc).__name__}") from exc
        except ValueError as exc:
            raise UpstreamError("malformed stream event") from exc
        finally:
            # Runs on cancellation too: the upstream HTTP stream is closed at once, so the
            # provider stops generating (and billing) tokens nobody will read.
            await upstream.aclose()


async def _sse_data(response: httpx2.Response) -> AsyncIterator[str]:
    """The ``data:`` payloads of a server-sent event stream (OpenAI sends one line per event)."""
    pending = b""
    async for piece in response.aiter_bytes():
        *lines, pending = (pending + piece).split(b"\n")
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].strip().decode()


async def _drain(events: AsyncIterator[str]) -> None:
    """Read the end of the body after ``[DONE]``: an HTTP/1.1 connection goes back to the pool
    only when its response was read to the end (else every request opens a new connection)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in events:
                pass


def _parse_chunk(event: dict[str, Any]) -> StreamChunk | None:
    if event.get("error"):
        message = event["error"].get("message") if isinstance(event["error"], dict) else None
        raise UpstreamError(f"error event: {message or 'unknown'}")
    usage = None
    if event.get("usage"):
        raw = event["usage"]
        details = raw.get("prompt_tokens_details") or {}
        usage = Usage(
            input_tokens=raw.get("prompt_tokens") or 0,
            output_tokens=raw.get("completion_tokens") or 0,
            cached_input_tokens=details.get("cached_tokens") or 0,
        )
    choices = event.get("choices") or []
    if not choices:
        return StreamChunk(usage=usage) if usage else None
    choice = choices[0]
    delta = choice.get("delta") or {}
    text = delta.get("content") or ""
    tool_calls = tuple(_tool_call_delta(call) for call in delta.get("tool_calls") or ())
    finish_reason = choice.get("finish_reason")
    if not (text or finish_reason or usage or tool_calls):
        return None
    return StreamChunk(text=text, finish_reason=finish_reason, usage=usage, tool_calls=tool_calls)


def _tool_call_delta(call: dict[str, Any]) -> ToolCallDelta:
    function = call.get("function") or {}
    return ToolCallDelta(
        index=int(call.get("index") or 0),
        id=call.get("id") or "",
        name=function.get("name") or "",
        arguments=function.get("arguments") or "",
    )


def _describe(exc: openai.APIError) -> str:
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__} ({status}): {exc.message}" if status else type(exc).__name__
