"""The turn runner: one user message, from its frame to its answer, for any transport.

A transport (the WebSocket consumer today, an HTTP endpoint later) hands it a parsed message and
a ``TurnSink``; it emits protocol frames to the sink and returns what the sink is attached to.
The path (DESIGN.md): claim the ``client_id`` → prepare (rights, config, moderation, routing,
context) → admission (limits, budget) → caches → circuit breaker → a generation of its own,
which answers, stores, settles and sends ``done`` whether or not the socket is still there.

Functions here take the ``ChatSession`` (tenant, user, conversation) and check every id
against it: another user's or tenant's generation is ``GenerationNotFound``, like an unknown one.
"""

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable
from typing import Any

import structlog
from django.conf import settings
from opentelemetry import trace

from billing import admission
from billing.pricing import price_for
from chat.events import REFUSED, get_event_counts
from chat.frames import done_frame, error_frame, held_frame, response_frame
from chat.gateway.caching import cache_lookup, exact_lookup
from chat.gateway.fallback import ModelUnavailable, breaker_pass_for
from chat.gateway.llm import LLMProvider, Usage, get_provider
from chat.gateway.llm.tokens import estimate_prompt_tokens
from chat.history.working_memory import Remembered, get_working_memory
from chat.protocol import ErrorCode, UserMessage
from chat.push import tell_inbox
from chat.selectors import StoredAnswer, answer_for_client_id, recent_messages
from chat.turn import ChatSession, HeldMessage, PreparedTurn, TurnRefused, TurnSink
from chat.turns.allowance import answer_allowance
from chat.turns.answer import Answering, answer
from chat.turns.budget_notice import user_budget_check
from chat.turns.follow import Follower
from chat.turns.generations import Generation, generation_registry
from chat.turns.prepare import turn_prepare
from chat.turns.reaper import turn_record
from chat.turns.store import GenerationInfo, GenerationStoreUnavailable, GenKey
from infra import aio, metrics
from infra.db import in_db_thread
from infra.tracing import tracer, use_span
from tenants.selectors import ChatConfig

log = structlog.stdlib.get_logger(__name__)

# What a sink is attached to: a generation of this process, or one followed from the store.
Attachment = Generation | Follower

# How often a message whose client_id is being prepared elsewhere looks again.
_CLAIM_POLL_S = 0.02


class GenerationNotFound(Exception):
    """Unknown, finished too long ago, or not the caller's: the same answer to all three."""


async def turn_submit(
    *, session: ChatSession, message: UserMessage, sink: TurnSink, cancel: asyncio.Event
) -> Attachment | None:
    """Answer one message into ``sink``; returns the generation it is attached to (None when the
    whole answer was already emitted: a refusal, a stored answer). ``cancel`` set before the
    generation starts streaming ends it without an upstream call. Raises ``RightsRevoked``."""
    client_id = message.client_id
    registry = generation_registry()
    history = aio.ahead(_history(session))  # read while the client_id is claimed
    deadline = asyncio.get_running_loop().time() + settings.CHAT_CLAIM_TTL_S + 5
    while True:
        try:
            claim = await registry.store.claim(
                tenant_id=session.tenant_id,
                client_id=str(client_id),
                user_id=session.user_id,
                ttl_s=settings.CHAT_CLAIM_TTL_S,
            )
        except GenerationStoreUnavailable as exc:
            log.error("generation.store_unavailable", error=str(exc))
            await refuse(session, sink, _unavailable())
            return None
        if claim.won:
            break
        if claim.user_id != session.user_id:
            await refuse(session, sink, TurnRefused(ErrorCode.BAD_REQUEST, "client_id is already in use"))
            return None
        if claim.message_id is not None:
            return await _join(session, claim.message_id, client_id, sink)
        if asyncio.get_running_loop().time() > deadline:
            await refuse(session, sink, _busy())
            return None
        await asyncio.sleep(_CLAIM_POLL_S)  # the first copy is still being prepared
    try:
        begun = await _begin(session, message, sink, cancel, history)
    except BaseException as exc:
        await registry.store.release(
            tenant_id=session.tenant_id, client_id=str(client_id), user_id=session.user_id
        )
        if not isinstance(exc, TurnRefused):
            raise
        await refuse(session, sink, exc)
        return None
    if isinstance(begun, StoredAnswer | HeldMessage):  # answered before, or the agent's
        await registry.store.release(
            tenant_id=session.tenant_id, client_id=str(client_id), user_id=session.user_id
        )
        if isinstance(begun, StoredAnswer):  # its claim had lapsed
            await _replay(begun, sink)
        else:
            await _held(session, begun, sink)
        return None
    return begun


async def _held(session: ChatSession, held: HeldMessage, sink: TurnSink) -> None:
    """The message went to the agent who holds the conversation: the bot's context keeps it
    (for when the agent hands back), the client is told, the support team's inbox sockets get it
    live; nothing else happens."""
    await get_working_memory().append(
        tenant_id=session.tenant_id,
        conversation_id=held.conversation_id,
        items=[Remembered(id=held.message_id, role="user", content=held.content)],
    )
    await tell_inbox(
        tenant_id=session.tenant_id,
        event={
            "type": "inbox.user_message",
            "conversation_id": held.conversation_id,
            "message_id": held.message_id,
            "content": held.content,
        },
    )
    # Last: the turn is over as the client learns it (a replay right after finds it done).
    await sink.emit(held_frame(conversation_id=held.conversation_id, message_id=held.message_id))


async def _begin(
    session: ChatSession,
    message: UserMessage,
    sink: TurnSink,
    cancel: asyncio.Event,
    history_read: Awaitable[list[Remembered]],
) -> Generation | StoredAnswer | HeldMessage:
    started_at = asyncio.get_running_loop().time()
    span = tracer.start_span("chat.message", attributes=_trace_attributes(session))
    ended = True
    try:
        with use_span(span):
            provider = get_provider()
            with tracer.start_as_current_span("chat.memory"):
                history = await history_read
            config, begun = await in_db_thread(turn_prepare)(
                session=session, message=message, model_name=provider.model_name, history=history
            )
            if isinstance(begun, StoredAnswer | HeldMessage):
                return begun
            turn = begun
            span.set_attributes(
                {"gen_ai.request.model": turn.request.model, "chat.message_id": turn.answer_message_id}
            )
            prompt_tokens = estimate_prompt_tokens(turn.request.messages)
            exact = aio.ahead(exact_lookup(config, turn))  # overlaps the admission's round trip
            try:
                ticket = await _admit(turn, config, provider, prompt_tokens, session.visitor)
            except admission.Refusal as refusal:
                if session.visitor is not None:
                    refusal = admission.for_visitor(refusal)
                raise TurnRefused(
                    ErrorCode(refusal.code),
                    refusal.message,
                    retry_after=refusal.retry_after,
                    limit=refusal.limit,
                ) from None
            try:
                with tracer.start_as_current_span("chat.cache"):
                    probe = await cache_lookup(config, turn, await exact)
                breaker_pass = None
                if probe.hit is None:
                    try:
                        turn, breaker_pass = await _through_breaker(turn, provider, config.fallback_model)
                    except ModelUnavailable as unavailable:
                        raise TurnRefused(
                            ErrorCode.UPSTREAM_ERROR,
                            str(unavailable),
                            retry_after=settings.BREAKER_COOLDOWN_S,
                        ) from None
                job = Answering(
                    turn=turn,
                    config=config,
                    ticket=ticket,
                    probe=probe,
                    provider=provider,
                    breaker_pass=breaker_pass,
                    started_at=started_at,
                    span=span,
                    prompt_tokens=prompt_tokens,
                )
                generation = await _start(job, sink, cancel)
            except BaseException:
                # Until the generation owns them, the stream slot and the budget reservation are
                # this turn's to give back, whatever stopped it (a refusal, a bug, a cancel).
                await admission.finish(ticket, spent=admission.NOTHING_SPENT)
                raise
            ended = False  # the generation ends the span with the answer
            return generation
    except TurnRefused as refused:
        span.set_attribute("chat.error_code", refused.code.value)
        raise
    finally:
        if ended:
            span.end()


async def _start(job: Answering, sink: TurnSink, cancel: asyncio.Event) -> Generation:
    """The generation takes over: from here the answer no longer depends on ``sink``."""
    turn = job.turn
    registry = generation_registry()
    registry.start_background()
    info = GenerationInfo(
        key=GenKey(turn.tenant_id, turn.answer_message_id),
        user_id=turn.user_id,
        conversation_id=turn.conversation_id,
        client_id=str(turn.client_id),
        orphan_grace_s=job.config.orphan_grace_s,
    )
    try:
        await registry.store.begin(
            info=info,
            record=turn_record(turn, job.ticket, prompt_tokens=job.prompt_tokens),
            lease_ttl_s=settings.STREAM_LEASE_TTL_S,
            keep_s=settings.CHAT_GENERATION_KEEP_S,
        )
    except GenerationStoreUnavailable as exc:
        log.error("generation.store_unavailable", error=str(exc))
        raise _unavailable() from exc
    generation = Generation(info=info, registry=registry)
    registry.add(generation)
    generation.cancel_requested = cancel.is_set()
    await generation.attach(sink)
    generation.run(lambda g: answer(g, job))
    return generation


async def _join(
    session: ChatSession, message_id: int, client_id: uuid.UUID, sink: TurnSink
) -> Attachment | None:
    """A message whose client_id already has a generation: attach to it from its first frame
    while it runs; once it has ended, replay the stored answer. Never a second upstream call."""
    registry = generation_registry()
    key = GenKey(session.tenant_id, message_id)
    local = registry.local.get(key)
    running = local is not None or not getattr(await registry.store.info(key), "finished", True)
    if running:
        with contextlib.suppress(GenerationNotFound):  # it may have ended in between
            return await generation_resume(session=session, message_id=message_id, after=0, sink=sink)
    stored = await in_db_thread(answer_for_client_id)(
        tenant_id=session.tenant_id, user_id=session.user_id, client_id=client_id
    )
    if stored is None:  # ended but not stored (yet): the client sends it again shortly
        await refuse(session, sink, _busy())
        return None
    await _replay(stored, sink)
    return None


async def generation_resume(
    *, session: ChatSession, message_id: int, after: int, sink: TurnSink
) -> Attachment:
    """Attach ``sink`` to one of the caller's generations: every frame but the tokens up to
    ``seq == after``, then live until its end, wherever it runs."""
    registry = generation_registry()
    key = GenKey(session.tenant_id, message_id)
    local = registry.local.get(key)
    if local is not None:
        _check_owner(local.info, session)
        await local.attach(sink, after=after)
        return local
    info = await registry.store.info(key)
    if info is None:
        raise GenerationNotFound(message_id)
    _check_owner(info, session)
    registry.start_background()
    return Follower(store=registry.store, info=info, sink=sink, after=after)


async def generation_cancel(*, session: ChatSession, message_id: int) -> None:
    """Stop one of the caller's generations that is still running, on whichever instance."""
    registry = generation_registry()
    key = GenKey(session.tenant_id, message_id)
    local = registry.local.get(key)
    if local is not None:
        info: GenerationInfo | None = local.info
        over = local.answered.is_set()
    else:
        info = await registry.store.info(key)
        over = info is not None and info.finished
    if info is None or over:
        raise GenerationNotFound(message_id)
    _check_owner(info, session)
    await registry.cancel(key)


async def resumable(*, session: ChatSession) -> list[dict[str, Any]]:
    """What ``ready.resumable`` lists: the caller's generations in this conversation that are
    streaming or finished within the kept lifetime of their frames."""
    found = await generation_registry().store.resumable(
        tenant_id=session.tenant_id, conversation_id=session.conversation_id, user_id=session.user_id
    )
    return [
        {
            "message_id": info.key.message_id,
            "client_id": info.client_id,
            "last_seq": info.last_seq,
            "finished": info.finished,
        }
        for info in found
    ]


def _check_owner(info: GenerationInfo, session: ChatSession) -> None:
    if info.user_id != session.user_id or info.key.tenant_id != session.tenant_id:
        raise GenerationNotFound(info.key.message_id)


def _unavailable() -> TurnRefused:
    return TurnRefused(
        ErrorCode.SERVICE_UNAVAILABLE, "answers cannot be started right now; try again shortly", retry_after=5
    )


def _busy() -> TurnRefused:
    return TurnRefused(
        ErrorCode.SERVICE_UNAVAILABLE, "this message is still being handled; send it again", retry_after=1
    )


async def _history(session: ChatSession) -> list[Remembered]:
    """The conversation's recent messages: working memory, refilled from PostgreSQL on a miss."""
    tenant_id, conversation_id = session.tenant_id, session.conversation_id
    memory = get_working_memory()
    history = await memory.recent(tenant_id=tenant_id, conversation_id=conversation_id)
    if history is None:
        history = await in_db_thread(recent_messages)(
            tenant_id=tenant_id, conversation_id=conversation_id, limit=settings.CHAT_HISTORY_MESSAGES
        )
        await memory.refill(tenant_id=tenant_id, conversation_id=conversation_id, items=history)
    return history


async def _admit(
    turn: PreparedTurn,
    config: ChatConfig,
    provider: LLMProvider,
    prompt_tokens: int,
    visitor: admission.VisitorLimits | None,
) -> admission.Ticket | None:
    limits = config.limits
    price = turn.price
    if limits.conversation_cost_cap_usd is not None and config.fallback_model:
        # The breaker may move the answer to the fallback model after this: hold the dearer price.
        price = price.dearer(await in_db_thread(price_for)(provider.model_name(config.fallback_model)))
    # Limits and budgets are one atomic call to the store: one span.
    with tracer.start_as_current_span("chat.limits_and_budget"):
        ticket = await admission.admit(
            tenant_id=turn.tenant_id,
            user_id=turn.user_id,
            limits=limits,
            allowance=answer_allowance(turn=turn, prompt_tokens=prompt_tokens, price=price),
            user_budget=turn.user_budget,
            conversation_id=turn.conversation_id,
            visitor=visitor,
            new_conversation=turn.message_count == 0,
        )
    if ticket is not None and ticket.budget_left is not None:
        metrics.BUDGET_LEFT.labels(turn.tenant_slug).set(ticket.budget_left)
        if limits.monthly_token_budget is not None:
            metrics.BUDGET.labels(turn.tenant_slug).set(limits.monthly_token_budget)
    if ticket is not None and ticket.user_used is not None and turn.user_budget:
        await user_budget_check(turn, used=ticket.user_used)
    return ticket


async def _through_breaker(
    turn: PreparedTurn, provider: LLMProvider, fallback: str
) -> tuple[PreparedTurn, Any]:
    with tracer.start_as_current_span("chat.breaker") as span:
        turn, breaker_pass = await breaker_pass_for(turn, provider, fallback=fallback)
        span.set_attributes({"chat.breaker": breaker_pass.value, "gen_ai.request.model": turn.request.model})
    if turn.fallback_from:
        trace.get_current_span().set_attribute("gen_ai.request.model", turn.request.model)
    return turn, breaker_pass


async def refuse(session: ChatSession, sink: TurnSink, refused: TurnRefused) -> None:
    metrics.ERRORS.labels(session.tenant_slug, refused.code.value).inc()
    get_event_counts().add(session.tenant_id, REFUSED + refused.code.value)
    await sink.emit(
        error_frame(refused.code, refused.message, retry_after=refused.retry_after, limit=refused.limit)
    )


async def _replay(stored: StoredAnswer, sink: TurnSink) -> None:
    await sink.emit(
        response_frame(
            message_id=stored.message_id,
            conversation_id=stored.conversation_id,
            content=stored.content,
            cached=False,
            replayed=True,
        )
    )
    usage = Usage(
        input_tokens=stored.input_tokens,
        output_tokens=stored.output_tokens,
        cached_input_tokens=stored.cached_input_tokens,
        estimated=stored.tokens_estimated,
    )
    await sink.emit(
        done_frame(
            message_id=stored.message_id,
            finish_reason=stored.finish_reason,
            model=stored.model,
            usage=usage,
            cost_usd=stored.cost_usd,
            sources=stored.sources,
        )
    )


def _trace_attributes(session: ChatSession) -> dict[str, Any]:
    return {
        "chat.tenant": session.tenant_slug,
        "chat.tenant_id": session.tenant_id,
        "chat.conversation_id": session.conversation_id,
    }
