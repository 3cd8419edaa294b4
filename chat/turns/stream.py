"""One answer streamed from a provider: the model calls and tool rounds within the answer's
allowance (``allowance``), its text pushed to ``token_frames``, cancellation, the outcome.

Nothing here touches the database: the turn is prepared before the stream starts
(``chat.turns.prepare``) and recorded once after it ends (``chat.history.recorder``).
"""

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import structlog

from chat.frames import tool_frame
from chat.gateway.llm import ChatRequest, LLMProvider, UpstreamError, Usage
from chat.gateway.llm.tokens import MESSAGE_OVERHEAD, estimate_prompt_tokens, estimate_tokens
from chat.turn import Outcome, PreparedTurn
from chat.turns.allowance import token_allowance
from chat.turns.token_frames import TokenFrames
from infra.safe_json import storable
from tools.execute import RESULT_MAX_CHARS, ToolBox

log = structlog.stdlib.get_logger(__name__)


def _uncancel() -> None:
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _finish_reason(upstream: str | None) -> str:
    # OpenAI also reports content_filter; to a chat client that is a stop. (``tool_calls`` is
    # handled by the rounds: an answer that ends asking for tools it cannot have ends cut short.)
    return "length" if upstream in ("length", "tool_calls") else "stop"


@dataclass
class _Round:
    """What one model call of an answer produced."""

    finish: str | None = None
    usage: Usage | None = None
    calls: dict[int, dict[str, str]] = field(default_factory=dict)  # index -> id, name, arguments
    text: list[str] = field(default_factory=list)


async def _one_round(
    provider: LLMProvider,
    request: ChatRequest,
    frames: TokenFrames,
    parts: list[str],
    first_token: list[float],
    result: _Round,
) -> None:
    """One model call into ``result``, filled as it streams: what came before a cancel or a
    failure is in it (and billed)."""
    loop = asyncio.get_running_loop()
    async with contextlib.aclosing(provider.stream(request)) as chunks:
        async for chunk in chunks:
            if chunk.text:
                if not first_token:
                    first_token.append(loop.time())
                # Kept whatever the model sends (it is paid for); what PostgreSQL and Redis
                # cannot store (a NUL, a lone surrogate) is replaced.
                text = storable(chunk.text)
                parts.append(text)
                result.text.append(text)
                await frames.push(text)
            for delta in chunk.tool_calls:
                call = result.calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = call["id"] or delta.id
                call["name"] = call["name"] or delta.name
                call["arguments"] += delta.arguments
            if chunk.finish_reason:
                result.finish = chunk.finish_reason
            if chunk.usage:
                result.usage = chunk.usage


def _round_usage(request: ChatRequest, result: _Round, *, prompt_read: bool) -> Usage:
    """The provider's usage, or (none given) what it surely processed: a request that failed
    before producing anything was not billed; a cancelled one read its whole prompt."""
    if result.usage is not None:
        return result.usage
    produced = "".join(result.text) + "".join(c["arguments"] for c in result.calls.values())
    return Usage(
        input_tokens=estimate_prompt_tokens(request.messages) if prompt_read or produced else 0,
        output_tokens=estimate_tokens(produced),
        estimated=True,
    )


def _add(total: Usage | None, more: Usage) -> Usage:
    if total is None:
        return more
    return Usage(
        input_tokens=total.input_tokens + more.input_tokens,
        output_tokens=total.output_tokens + more.output_tokens,
        cached_input_tokens=total.cached_input_tokens + more.cached_input_tokens,
        estimated=total.estimated or more.estimated,
    )


async def stream_answer(
    *,
    provider: LLMProvider,
    turn: PreparedTurn,
    frames: TokenFrames,
    started_at: float,
    tools: ToolBox | None = None,
) -> Outcome:
    """Stream ``turn`` into ``frames``: one model call, or, when the model asks for tools, the
    tools run and the model called again with their results (at most ``turn.tool_rounds``
    rounds, then a last call that may not ask for more, all within ``token_allowance``).
    Cancelling the task running this ends the answer with ``finish_reason="cancelled"`` (the
    upstream stream is closed on the way out) instead of raising, so the caller always gets an
    outcome to record, with every round's usage."""
    loop = asyncio.get_running_loop()
    parts: list[str] = []
    first_token: list[float] = []
    usage: Usage | None = None
    upstream_finish: str | None = None
    error: str | None = None
    cancelled = False
    records: list[dict[str, Any]] = []
    request = turn.request
    allowance = token_allowance(
        prompt_tokens=estimate_prompt_tokens(request.messages),
        max_tokens=request.max_tokens,
        tool_rounds=turn.tool_rounds,
    )
    rounds = 0
    while True:
        result = _Round()
        try:
            await _one_round(provider, request, frames, parts, first_token, result)
        except asyncio.CancelledError:
            _uncancel()
            cancelled = True
        except UpstreamError as exc:
            error = str(exc)
        except Exception as exc:
            # A bug must not lose the answer or its usage: it ends like an upstream failure.
            log.exception("chat.stream_failed")
            error = f"internal error: {type(exc).__name__}"
        usage = _add(usage, _round_usage(request, result, prompt_read=cancelled))
        upstream_finish = result.finish
        if (
            cancelled
            or error is not None
            or result.finish != "tool_calls"
            or not result.calls
            or tools is None
        ):
            break
        following = [*request.messages, _assistant_calls(result)]
        spent = usage.input_tokens + usage.output_tokens
        results_at_most = len(result.calls) * (RESULT_MAX_CHARS // 4 + MESSAGE_OVERHEAD)
        if spent + estimate_prompt_tokens(following) + results_at_most + request.max_tokens > allowance:
            log.warning("chat.tool_rounds_over_allowance", rounds=rounds, spent=spent, allowance=allowance)
            break  # ends cut short ("length"): the budget reservation holds no more
        try:
            for call in (result.calls[index] for index in sorted(result.calls)):
                outcome = await _run_tool(tools, frames, turn.answer_message_id, call)
                records.append(outcome[0])
                following.append(outcome[1])
        except asyncio.CancelledError:
            _uncancel()
            cancelled = True
            break
        rounds += 1
        # The last call may not ask for tools again: it answers with what it has.
        request = replace(
            request, messages=following, tool_choice="none" if rounds >= turn.tool_rounds else ""
        )
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
    assert usage is not None
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
        ttft_ms=None if not first_token else round((first_token[0] - started_at) * 1000),
        latency_ms=round((ended_at - started_at) * 1000),
        error=error,
        tool_calls=tuple(records),
    )


def _assistant_calls(result: _Round) -> dict[str, Any]:
    """The model's turn that asked for the tools, as the next request must repeat it."""
    return {
        "role": "assistant",
        "content": "".join(result.text) or None,
        "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for _, c in sorted(result.calls.items())
        ],
    }


async def _run_tool(
    tools: ToolBox, frames: TokenFrames, message_id: int, call: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run one call between its ``tool`` frames; (the record kept with the answer, the tool
    message the model gets)."""
    call_id = call["id"] or f"call_{uuid.uuid4().hex[:12]}"
    await frames.event(
        tool_frame(message_id=message_id, call_id=call_id, name=call["name"], status="started")
    )
    result = await tools.call(call_id, call["name"], call["arguments"])
    status: Literal["done", "failed"] = "done" if result.ok else "failed"
    ended = tool_frame(
        message_id=message_id,
        call_id=call_id,
        name=call["name"],
        status=status,
        error=result.error or "",
        arguments=result.arguments if tools.show_arguments else None,
    )
    await frames.event(ended)
    record = {
        "name": result.name,
        "status": status,
        "arguments": result.arguments,
        "error": result.error,
        "latency_ms": result.latency_ms,
        "result": result.content[:500],
    }
    return record, {"role": "tool", "tool_call_id": call_id, "content": result.content}


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
