"""Steps 7 and 8 of the message path (DESIGN.md), run by the generation itself, not by a socket:
stream the answer (or send the cached one), store the turn, settle the admission ticket, fill the
caches, then ``done``; the background work the turn makes due is queued last."""

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from opentelemetry import trace

from billing import admission
from chat.frames import TYPING_OFF, TYPING_ON, DoneFrame, done_frame, error_frame, response_frame
from chat.gateway.caching import CacheProbe, cache_fill
from chat.gateway.fallback import breaker_report
from chat.gateway.llm import LLMProvider
from chat.gateway.llm.breaker import Pass
from chat.history.background_queue import background_work_due, enqueue_background_work
from chat.history.recorder import turn_recorder
from chat.history.working_memory import Remembered, get_working_memory
from chat.protocol import ErrorCode
from chat.turn import Outcome, PreparedTurn
from chat.turns.generations import Generation
from chat.turns.stream import (
    cached_outcome,
    cancelled_before_start,
    stream_answer,
)
from chat.turns.token_frames import TokenFrames
from chat.turns.toolbox import turn_toolbox
from infra import metrics
from infra.tracing import tracer, use_span
from tenants.selectors import ChatConfig

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Answering:
    """What a generation needs, all decided before it began."""

    turn: PreparedTurn
    config: ChatConfig
    ticket: admission.Ticket | None
    probe: CacheProbe
    provider: LLMProvider
    breaker_pass: Pass | None  # None: answered from the cache
    started_at: float
    span: trace.Span  # the message's span, ended with the answer
    prompt_tokens: int  # estimated: what the budget reserved, and what a reaper would bill


async def answer(generation: Generation, job: Answering) -> None:
    turn = job.turn
    try:
        with use_span(job.span):
            if job.probe.hit is not None:
                outcome = await _from_cache(generation, job, job.probe.hit.text)
            else:
                outcome = await _streamed(generation, job)
    except Exception as exc:
        log.exception("chat.turn_failed", message_id=turn.answer_message_id)
        job.span.record_exception(exc)
        job.span.set_status(trace.StatusCode.ERROR)
        metrics.ERRORS.labels(turn.tenant_slug, ErrorCode.INTERNAL_ERROR.value).inc()
        await generation.publish(error_frame(ErrorCode.INTERNAL_ERROR, "the answer could not be completed"))
        return
    finally:
        job.span.end()
    due = background_work_due(
        message_count=turn.message_count + 2,
        uncovered=turn.message_count + 2 - turn.summary_message_count,
        summarize_every=job.config.summarize_after_messages,
        context_overflow=turn.context_overflow,
    )
    if due:
        enqueue_background_work(due, tenant_id=turn.tenant_id, conversation_id=turn.conversation_id)
    if outcome.error is not None:
        log.warning("chat.upstream_error", error=outcome.error)
        metrics.ERRORS.labels(turn.tenant_slug, ErrorCode.UPSTREAM_ERROR.value).inc()
        await generation.publish(
            error_frame(ErrorCode.UPSTREAM_ERROR, "the model provider failed; try again")
        )


async def _from_cache(generation: Generation, job: Answering, text: str) -> Outcome:
    turn = job.turn
    outcome = cached_outcome(turn, text, started_at=job.started_at)
    await _store(job, outcome)
    await generation.publish(
        response_frame(
            message_id=turn.answer_message_id,
            conversation_id=turn.conversation_id,
            content=text,
            cached=True,
            curated=turn.curated_answer_id is not None,
        ),
        _done(turn, outcome),
    )
    return outcome


async def _streamed(generation: Generation, job: Answering) -> Outcome:
    turn, provider = job.turn, job.provider
    outcome: Outcome | None = None
    try:
        with tracer.start_as_current_span("chat.upstream") as upstream:
            outcome = await _stream(generation, job)
            upstream.set_attributes(_outcome_attributes(outcome))
        if job.breaker_pass is not None:
            await breaker_report(provider, turn, outcome, job.breaker_pass)
        with tracer.start_as_current_span("chat.persist"):
            await turn_recorder().record(turn, outcome)
            await _remember(turn, outcome)
    finally:
        # Before `done`: a client may send its next message the moment it reads `done`.
        with tracer.start_as_current_span("chat.settle"):
            await admission.finish(job.ticket, spent=outcome.spent if outcome else admission.NOTHING_SPENT)
    _observe(turn, outcome)
    # Before `done` (one Redis write): once a client has seen `done`, the cache holds it.
    await cache_fill(job.config, turn, job.probe, outcome)
    await generation.publish(TYPING_OFF, _done(turn, outcome))
    return outcome


async def _stream(generation: Generation, job: Answering) -> Outcome:
    turn = job.turn
    log.info("chat.turn", model=turn.request.model, message_id=turn.answer_message_id)
    if generation.cancel_requested:
        await generation.publish(TYPING_ON)
        return cancelled_before_start(turn, started_at=job.started_at)
    # Its store write overlaps the upstream request; the stream's frames come after it.
    typing = generation.publish(TYPING_ON)
    frames = TokenFrames(
        generation.publish,
        message_id=turn.answer_message_id,
        interval=settings.CHAT_TOKEN_FRAME_INTERVAL_MS / 1000,
    )
    generation.streaming = asyncio.ensure_future(
        stream_answer(
            provider=job.provider,
            turn=turn,
            frames=frames,
            started_at=job.started_at,
            tools=turn_toolbox(turn, job.config),
        )
    )
    await typing
    return await generation.streaming


async def _store(job: Answering, outcome: Outcome) -> None:
    try:
        with tracer.start_as_current_span("chat.persist"):
            await turn_recorder().record(job.turn, outcome)
            await _remember(job.turn, outcome)
    finally:
        await admission.finish(job.ticket, spent=admission.NOTHING_SPENT)
    _observe(job.turn, outcome)


async def _remember(turn: PreparedTurn, outcome: Outcome) -> None:
    """After the turn is stored: its two messages join the conversation's working memory. A
    turn that replaced another empties it instead: the next message refills it from PostgreSQL,
    without the replaced messages."""
    if turn.replaces is not None:
        await get_working_memory().refill(
            tenant_id=turn.tenant_id, conversation_id=turn.conversation_id, items=[]
        )
        return
    await get_working_memory().append(
        tenant_id=turn.tenant_id,
        conversation_id=turn.conversation_id,
        items=[
            Remembered(id=turn.user_message_id, role="user", content=turn.content),
            Remembered(id=turn.answer_message_id, role="assistant", content=outcome.text),
        ],
        first=turn.message_count == 0,
    )


def _done(turn: PreparedTurn, outcome: Outcome) -> DoneFrame:
    return done_frame(
        message_id=turn.answer_message_id,
        finish_reason=outcome.finish_reason,
        model=turn.request.model,
        usage=outcome.usage,
        cost_usd=outcome.cost_usd,
        sources=turn.sources,
    )


def _outcome_attributes(outcome: Outcome) -> dict[str, Any]:
    return {
        "chat.finish_reason": outcome.finish_reason,
        "gen_ai.usage.input_tokens": outcome.usage.input_tokens,
        "gen_ai.usage.output_tokens": outcome.usage.output_tokens,
        "chat.ttft_ms": outcome.ttft_ms if outcome.ttft_ms is not None else -1,
    }


def _observe(turn: PreparedTurn, outcome: Outcome) -> None:
    tenant, model = turn.tenant_slug, turn.request.model
    metrics.MESSAGES.labels(tenant, model, outcome.finish_reason).inc()
    if outcome.ttft_ms is not None:
        metrics.TTFT.labels(tenant, model).observe(outcome.ttft_ms / 1000)
    metrics.GENERATION.labels(tenant, model).observe(outcome.latency_ms / 1000)
    metrics.TOKENS.labels(tenant, model, "input").inc(outcome.usage.input_tokens)
    metrics.TOKENS.labels(tenant, model, "output").inc(outcome.usage.output_tokens)
    metrics.TOKENS.labels(tenant, model, "cached_input").inc(outcome.usage.cached_input_tokens)
    metrics.COST.labels(tenant, model).inc(float(outcome.cost_usd))
    metrics.CONVERSATION_LENGTH.labels(tenant).observe(turn.message_count + 2)
