"""The chat WebSocket (protocol v1, DESIGN.md). A thin adapter: every step is a function
elsewhere; this class holds the connection's state and the one generation in flight."""

import asyncio
import json
import time
from typing import Any

import structlog
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone
from opentelemetry import trace

from billing import admission
from chat import drain
from chat.background_queue import background_work_due, enqueue_background_work
from chat.caching import cache_fill, cache_lookup
from chat.fallback import ModelUnavailable, breaker_pass_for, breaker_report
from chat.generation import (
    Outcome,
    PreparedTurn,
    TokenFrames,
    cached_outcome,
    cancelled_before_start,
    done_frame,
    stream_answer,
)
from chat.llm import LLMProvider, Usage, get_provider
from chat.llm.breaker import Pass
from chat.llm.tokens import estimate_prompt_tokens
from chat.memory import Remembered, working_memory
from chat.model_routing import route_model
from chat.moderation import BlockedTopic, moderate
from chat.protocol import (
    CLOSE_NOT_FOUND,
    CLOSE_PONG_TIMEOUT,
    CLOSE_SERVICE_RESTART,
    CLOSE_TOKEN_EXPIRED,
    ErrorCode,
    FrameError,
    error_frame,
    parse_escalate,
    parse_feedback,
    parse_frame,
    parse_message,
    parse_resume,
)
from chat.push import user_group
from chat.recorder import turn_recorder
from chat.selectors import (
    ClientIdTaken,
    ConversationNotFound,
    StoredAnswer,
    conversation_for_user,
    recent_messages,
)
from chat.services import (
    ConversationOverBudget,
    MessageNotFound,
    conversation_escalate,
    conversation_resolve,
    conversation_start,
    feedback_record,
    turn_begin,
)
from chat.support import asks_for_human
from chat.ws_auth import ChatPrincipal, Refused, authenticate
from chatplatform import metrics
from chatplatform.db import in_db_thread
from chatplatform.tracing import tracer
from tenants.experiments import Overrides
from tenants.selectors import ChatConfig, chat_config_get

log = structlog.stdlib.get_logger(__name__)


def _outcome_attributes(outcome: Outcome) -> dict[str, Any]:
    return {
        "chat.finish_reason": outcome.finish_reason,
        "gen_ai.usage.input_tokens": outcome.usage.input_tokens,
        "gen_ai.usage.output_tokens": outcome.usage.output_tokens,
        "chat.ttft_ms": outcome.ttft_ms if outcome.ttft_ms is not None else -1,
    }


class ChatConsumer(AsyncWebsocketConsumer):
    principal: ChatPrincipal
    config: ChatConfig
    conversation_id: int

    async def connect(self) -> None:
        self.open = False
        self.answering: asyncio.Task[None] | None = None
        self.streaming: asyncio.Task[Outcome] | None = None
        # A cancel that came while the turn was being prepared, before its stream started.
        self.cancel_requested = False
        self.expiry: asyncio.TimerHandle | None = None
        # Heartbeat: the next ping, or the deadline of the pong the last ping asked for.
        self.heartbeat: asyncio.TimerHandle | None = None
        if drain.is_draining():
            log.info("ws.refused", reason="draining", path=self.scope.get("path"))
            await self.close()
            return
        try:
            self.principal = await authenticate(self.scope)
        except Refused as refusal:
            log.info("ws.refused", reason=str(refusal), path=self.scope.get("path"))
            await self.close()
            return
        structlog.contextvars.bind_contextvars(
            tenant=self.principal.tenant_slug, user_id=self.principal.user_id
        )
        requested = self.scope["url_route"]["kwargs"].get("conversation_id")
        try:
            self.config, self.conversation_id, self.message_count = await in_db_thread(self._open_session)(
                requested
            )
        except ConversationNotFound:
            await self.accept(self.principal.subprotocol)
            frame = error_frame(ErrorCode.NOT_FOUND, "no such conversation")
            await self.send(text_data=json.dumps(frame))
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.accept(self.principal.subprotocol)
        self.open = True
        drain.register(self)
        metrics.WS_CONNECTIONS.labels(self.principal.tenant_slug).inc()
        self.user_group = user_group(tenant_id=self.principal.tenant_id, user_id=self.principal.user_id)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        structlog.contextvars.bind_contextvars(conversation_id=self.conversation_id)
        self._arm_token_expiry()
        self._schedule_ping()
        log.info("ws.connected", auth="token" if self.principal.expires_at else "session")
        await self._send(
            {
                "type": "ready",
                "conversation_id": self.conversation_id,
                "greeting": self.config.greeting,
                "resumable": [],
            }
        )

    def _open_session(self, requested: int | None) -> tuple[ChatConfig, int, int]:
        tenant_id, user_id = self.principal.tenant_id, self.principal.user_id
        if requested is None:
            conversation = conversation_start(tenant_id=tenant_id, user_id=user_id)
        else:
            conversation = conversation_for_user(
                tenant_id=tenant_id, user_id=user_id, conversation_id=requested
            )
        # The conversation keeps the variant it started in, for all its messages.
        variant = conversation.variant
        self.overrides = Overrides.of(variant) if variant is not None else None
        return self._config(), conversation.pk, conversation.message_count

    def _config(self) -> ChatConfig:
        """The tenant's config with the conversation's experiment variant over it."""
        config = chat_config_get(tenant_id=self.principal.tenant_id)
        return self.overrides.apply(config) if self.overrides is not None else config

    def _arm_token_expiry(self) -> None:
        if self.principal.expires_at is None:
            return
        delay = max(0.0, self.principal.expires_at - time.time())
        self.expiry = self._close_later(delay, CLOSE_TOKEN_EXPIRED)

    def _close_later(self, delay: float, code: int) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(
            delay, lambda: asyncio.ensure_future(self.close(code=code))
        )

    def _schedule_ping(self) -> None:
        loop = asyncio.get_running_loop()
        self.heartbeat = loop.call_later(
            settings.CHAT_PING_INTERVAL_S, lambda: asyncio.ensure_future(self._ping())
        )

    async def _ping(self) -> None:
        self.heartbeat = self._close_later(settings.CHAT_PONG_TIMEOUT_S, CLOSE_PONG_TIMEOUT)
        await self._send({"type": "ping"})

    async def on_pong(self, frame: dict[str, Any]) -> None:
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        self._schedule_ping()

    async def disconnect(self, code: int) -> None:
        if not self.open:
            return
        self.open = False
        drain.unregister(self)
        metrics.WS_CONNECTIONS.labels(self.principal.tenant_slug).dec()
        if self.message_count:
            metrics.CONVERSATION_LENGTH.labels(self.principal.tenant_slug).observe(self.message_count)
        log.info("ws.disconnected", code=code)
        await self.channel_layer.group_discard(self.user_group, self.channel_name)
        for timer in (self.expiry, self.heartbeat):
            if timer is not None:
                timer.cancel()
        if self.answering is not None:
            # Whatever was generated is still recorded, with its usage.
            self.cancel_requested = True
            if self.streaming is not None:
                self.streaming.cancel()
            await self.answering

    async def drain(self, grace_s: float) -> None:
        """Let the answer in flight finish (cancelled after ``grace_s``), then close with 1012."""
        if self.answering is not None and not self.answering.done():
            try:
                await asyncio.wait_for(asyncio.shield(self.answering), grace_s)
            except TimeoutError:
                self.cancel_requested = True
                if self.streaming is not None:
                    self.streaming.cancel()
                await self.answering
        await self.close(code=CLOSE_SERVICE_RESTART)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections()`` before every event: that is
        a hop to the one sync thread and back for each frame received (a pong, a message), ~25% of
        the CPU of 5,000 idle sockets answering heartbeats (``bench/ws_bench.py --hold``). This
        consumer never uses a database connection on the event loop's sync thread: its queries run
        in ``in_db_thread`` (authentication too), which closes stale connections itself, and
        Channels' session middleware uses ``database_sync_to_async``, which does as well."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = parse_frame(text_data, bytes_data, max_bytes=settings.CHAT_MAX_FRAME_BYTES)
            handler = getattr(self, f"on_{frame['type']}")
            await handler(frame)
        except FrameError as exc:
            await self._send_error(exc.code, exc.message)

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self._send({"type": "pong"})

    async def on_cancel(self, frame: dict[str, Any]) -> None:
        if self.answering is None or self.answering.done():
            raise FrameError(ErrorCode.NOT_FOUND, "no answer is streaming")
        self.cancel_requested = True
        if self.streaming is not None and not self.streaming.done():
            self.streaming.cancel()

    async def on_message(self, frame: dict[str, Any]) -> None:
        # The trace of one message: this span, with a child for each step of its path.
        span = tracer.start_span("chat.message", attributes=self._trace_attributes())
        try:
            with trace.use_span(span), tracer.start_as_current_span("chat.validate"):
                content, client_id = parse_message(frame, max_chars=self.config.max_message_chars)
                if drain.is_draining():
                    raise FrameError(
                        ErrorCode.SERVICE_UNAVAILABLE, "this server is restarting: reconnect and resend"
                    )
                if self.answering is not None and not self.answering.done():
                    raise FrameError(
                        ErrorCode.BAD_REQUEST, "an answer is still streaming: wait for done or cancel it"
                    )
        except FrameError:
            span.end()
            raise
        self.streaming, self.cancel_requested = None, False
        with trace.use_span(span):  # the task starts with this context: its spans are children
            self.answering = asyncio.create_task(self._answer_guarded(span, content, client_id))

    async def _answer_guarded(self, span: trace.Span, content: str, client_id: Any) -> None:
        try:
            await self._answer(content, client_id)
        except Exception as exc:
            log.exception("chat.turn_failed")
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR)
            await self._send_error(ErrorCode.INTERNAL_ERROR, "the answer could not be completed")
        finally:
            span.end()

    def _trace_attributes(self) -> dict[str, Any]:
        return {
            "chat.tenant": self.principal.tenant_slug,
            "chat.tenant_id": self.principal.tenant_id,
            "chat.conversation_id": self.conversation_id,
        }

    async def _answer(self, content: str, client_id: Any) -> None:
        started_at = asyncio.get_running_loop().time()
        provider = get_provider()
        if asks_for_human(content):
            await self.on_escalate({"type": "escalate", "reason": f"asked in the chat: {content[:500]}"})
        with tracer.start_as_current_span("chat.memory"):
            history = await self._history()
        try:
            begun = await in_db_thread(self._begin_turn)(content, client_id, provider.model_name, history)
        except ClientIdTaken:
            await self._send_error(ErrorCode.BAD_REQUEST, "client_id is already in use")
            return
        except BlockedTopic as blocked:
            await self._send_error(
                ErrorCode.BLOCKED_TOPIC, f"This assistant cannot help with “{blocked.topic}”."
            )
            return
        except ConversationOverBudget as over:
            await self._send_error(
                ErrorCode.CONVERSATION_BUDGET_EXCEEDED,
                f"This conversation has cost {over.spent:.4f} USD, its cap is {over.cap:.4f} USD; "
                "start a new conversation.",
            )
            return
        if isinstance(begun, StoredAnswer):
            await self._replay(begun)
            return
        turn = begun
        trace.get_current_span().set_attributes(
            {"gen_ai.request.model": turn.request.model, "chat.message_id": turn.answer_message_id}
        )
        try:
            # Limits and budget are one atomic call to the store: one span.
            with tracer.start_as_current_span("chat.limits_and_budget"):
                ticket = await admission.admit(
                    tenant_id=turn.tenant_id,
                    user_id=turn.user_id,
                    limits=self.config.limits,
                    reserve_tokens=estimate_prompt_tokens(turn.request.messages) + turn.request.max_tokens,
                )
        except admission.Refusal as refusal:
            await self._send_error(
                ErrorCode(refusal.code), refusal.message, retry_after=refusal.retry_after, limit=refusal.limit
            )
            return
        if ticket is not None and ticket.budget_left is not None:
            metrics.BUDGET_LEFT.labels(turn.tenant_slug).set(ticket.budget_left)
        with tracer.start_as_current_span("chat.cache"):
            probe = await cache_lookup(self.config, turn)
        if probe.hit is not None:
            await self._answer_from_cache(turn, ticket, probe.hit.text, started_at)
            return
        try:
            turn, breaker_pass = await self._through_breaker(turn, provider)
        except ModelUnavailable as unavailable:
            await admission.finish(ticket, tokens_used=0)
            await self._send_error(
                ErrorCode.UPSTREAM_ERROR, str(unavailable), retry_after=settings.BREAKER_COOLDOWN_S
            )
            return
        outcome: Outcome | None = None
        try:
            with tracer.start_as_current_span("chat.upstream") as upstream:
                outcome = await self._stream(turn, provider, started_at)
                upstream.set_attributes(_outcome_attributes(outcome))
            await breaker_report(provider, turn, outcome, breaker_pass)
            # A disconnect now does not lose the answer or its usage: the write goes on regardless.
            with tracer.start_as_current_span("chat.persist"):
                await turn_recorder().record(turn, outcome)
                await self._remember(turn, outcome)
        finally:
            # Before `done`: a client may send its next message the moment it reads `done`.
            used = outcome.usage.input_tokens + outcome.usage.output_tokens if outcome else 0
            with tracer.start_as_current_span("chat.settle"):
                await admission.finish(ticket, tokens_used=used)
        self._observe(turn, outcome)
        # Before `done` (one Redis write): once a client has seen `done`, the cache holds it.
        await cache_fill(self.config, turn, probe, outcome)
        await self._send({"type": "typing", "active": False})
        await self._send_done(turn, outcome)
        if outcome.error is not None:
            log.warning("chat.upstream_error", error=outcome.error)
            await self._send_error(ErrorCode.UPSTREAM_ERROR, "the model provider failed; try again")
        self._queue_background_work(turn)

    async def _stream(self, turn: PreparedTurn, provider: LLMProvider, started_at: float) -> Outcome:
        # Every line logged while this answer streams carries its id (this task's context only).
        structlog.contextvars.bind_contextvars(message_id=turn.answer_message_id)
        log.info("chat.turn", model=turn.request.model)
        await self._send({"type": "typing", "active": True})
        if self.cancel_requested:
            return cancelled_before_start(turn, started_at=started_at)
        frames = TokenFrames(
            self._send,
            message_id=turn.answer_message_id,
            interval=settings.CHAT_TOKEN_FRAME_INTERVAL_MS / 1000,
        )
        self.streaming = asyncio.create_task(
            stream_answer(provider=provider, turn=turn, frames=frames, started_at=started_at)
        )
        return await self.streaming

    async def _history(self) -> list[Remembered]:
        """The conversation's recent messages: working memory, refilled from PostgreSQL on a miss."""
        tenant_id, conversation_id = self.principal.tenant_id, self.conversation_id
        memory = working_memory()
        history = await memory.recent(tenant_id=tenant_id, conversation_id=conversation_id)
        if history is None:
            history = await in_db_thread(recent_messages)(
                tenant_id=tenant_id, conversation_id=conversation_id, limit=settings.CHAT_HISTORY_MESSAGES
            )
            await memory.refill(tenant_id=tenant_id, conversation_id=conversation_id, items=history)
        return history

    async def _remember(self, turn: PreparedTurn, outcome: Outcome) -> None:
        """After the turn is stored: its two messages join the working memory, and the
        background work it makes due is queued (after ``done``: it never delays an answer)."""
        self.message_count += 2
        await working_memory().append(
            tenant_id=turn.tenant_id,
            conversation_id=turn.conversation_id,
            items=[
                Remembered(id=turn.user_message_id, role="user", content=turn.content),
                Remembered(id=turn.answer_message_id, role="assistant", content=outcome.text),
            ],
        )

    def _queue_background_work(self, turn: PreparedTurn) -> None:
        uncovered = self.message_count - turn.summary_message_count
        due = background_work_due(
            message_count=self.message_count,
            uncovered=uncovered,
            summarize_every=self.config.summarize_after_messages,
            context_overflow=turn.context_overflow,
        )
        if due:
            enqueue_background_work(due, tenant_id=turn.tenant_id, conversation_id=turn.conversation_id)

    def _begin_turn(
        self, content: str, client_id: Any, model_name: Any, history: list[Remembered]
    ) -> StoredAnswer | PreparedTurn:
        """Steps 3, 4, 8 and 9 of DESIGN.md's message path, in one trip to a database thread.
        Routing comes before limits here: the budget reservation needs the routed request."""
        with tracer.start_as_current_span("chat.config"):
            self.config = config = self._config()
        with tracer.start_as_current_span("chat.moderation") as span:
            moderated = moderate(
                blocked_topics=config.blocked_topics, pii_filter=config.pii_filter, text=content
            )
            span.set_attribute("chat.pii_redacted", moderated.found.total())
        with tracer.start_as_current_span("chat.routing") as span:
            route, model = route_model(config, moderated.text)
            span.set_attributes({"chat.route": route.value, "gen_ai.request.model": model})
        metrics.ROUTING.labels(config.tenant_slug, route.value, model).inc()
        log.info("chat.routed", route=route.value, model=model)
        with tracer.start_as_current_span("chat.context"):
            return turn_begin(
                config=config,
                user_id=self.principal.user_id,
                conversation_id=self.conversation_id,
                content=moderated.text,
                client_id=client_id,
                answering_model=model_name(model),
                history=history,
                route=route.value,
                variant_id=self.overrides.variant_id if self.overrides is not None else None,
            )

    async def _through_breaker(self, turn: PreparedTurn, provider: LLMProvider) -> tuple[PreparedTurn, Pass]:
        with tracer.start_as_current_span("chat.breaker") as span:
            turn, breaker_pass = await breaker_pass_for(turn, provider, fallback=self.config.fallback_model)
            span.set_attributes(
                {"chat.breaker": breaker_pass.value, "gen_ai.request.model": turn.request.model}
            )
        if turn.fallback_from:
            trace.get_current_span().set_attribute("gen_ai.request.model", turn.request.model)
        return turn, breaker_pass

    async def _answer_from_cache(
        self, turn: PreparedTurn, ticket: admission.Ticket | None, text: str, started_at: float
    ) -> None:
        outcome = cached_outcome(turn, text, started_at=started_at)
        try:
            with tracer.start_as_current_span("chat.persist"):
                await turn_recorder().record(turn, outcome)
                await self._remember(turn, outcome)
        finally:
            await admission.finish(ticket, tokens_used=0)
        self._observe(turn, outcome)
        await self._send(
            {
                "type": "response",
                "message_id": turn.answer_message_id,
                "conversation_id": turn.conversation_id,
                "content": text,
                "cached": True,
            }
        )
        await self._send_done(turn, outcome)
        self._queue_background_work(turn)

    async def _send_done(self, turn: PreparedTurn, outcome: Outcome) -> None:
        await self._send(
            done_frame(
                message_id=turn.answer_message_id,
                finish_reason=outcome.finish_reason,
                model=turn.request.model,
                usage=outcome.usage,
                cost_usd=outcome.cost_usd,
            )
        )

    async def _replay(self, stored: StoredAnswer) -> None:
        await self._send(
            {
                "type": "response",
                "message_id": stored.message_id,
                "conversation_id": stored.conversation_id,
                "content": stored.content,
                "cached": False,
                "replayed": True,
            }
        )
        usage = Usage(
            input_tokens=stored.input_tokens,
            output_tokens=stored.output_tokens,
            cached_input_tokens=stored.cached_input_tokens,
            estimated=stored.tokens_estimated,
        )
        await self._send(
            done_frame(
                message_id=stored.message_id,
                finish_reason=stored.finish_reason,
                model=stored.model,
                usage=usage,
                cost_usd=stored.cost_usd,
            )
        )

    def _observe(self, turn: PreparedTurn, outcome: Outcome) -> None:
        tenant, model = turn.tenant_slug, turn.request.model
        metrics.MESSAGES.labels(tenant, model, outcome.finish_reason).inc()
        if outcome.ttft_ms is not None:
            metrics.TTFT.labels(tenant, model).observe(outcome.ttft_ms / 1000)
        metrics.GENERATION.labels(tenant, model).observe(outcome.latency_ms / 1000)
        metrics.TOKENS.labels(tenant, model, "input").inc(outcome.usage.input_tokens)
        metrics.TOKENS.labels(tenant, model, "output").inc(outcome.usage.output_tokens)
        metrics.TOKENS.labels(tenant, model, "cached_input").inc(outcome.usage.cached_input_tokens)
        metrics.COST.labels(tenant, model).inc(float(outcome.cost_usd))

    async def user_push(self, event: dict[str, Any]) -> None:
        """A frame for every socket of this user (``chat.push``), from any instance."""
        await self._send(event["frame"])

    async def on_feedback(self, frame: dict[str, Any]) -> None:
        message_id, rating, comment = parse_feedback(frame)
        try:
            await in_db_thread(feedback_record)(
                tenant_id=self.principal.tenant_id,
                user_id=self.principal.user_id,
                message_id=message_id,
                rating=rating,
                comment=comment,
            )
        except MessageNotFound:
            raise FrameError(ErrorCode.NOT_FOUND, "no such answer") from None

    async def on_resolve(self, frame: dict[str, Any]) -> None:
        await in_db_thread(conversation_resolve)(
            tenant_id=self.principal.tenant_id, conversation_id=self.conversation_id, now=timezone.now()
        )
        await self._send({"type": "resolved"})

    async def on_escalate(self, frame: dict[str, Any]) -> None:
        """The user asks for a human (a frame, or in words): the tenant's team gets an e-mail."""
        reason = parse_escalate(frame)
        await in_db_thread(conversation_escalate)(
            tenant_id=self.principal.tenant_id,
            conversation_id=self.conversation_id,
            reason=reason,
            now=timezone.now(),
        )
        await self._send({"type": "escalated"})

    async def on_resume(self, frame: dict[str, Any]) -> None:
        parse_resume(frame)
        # Generations are not yet kept for resumption across connections.
        raise FrameError(ErrorCode.NOT_FOUND, "no resumable generation with that id")

    async def _send_error(
        self, code: ErrorCode, message: str, *, retry_after: float | None = None, limit: str | None = None
    ) -> None:
        trace.get_current_span().set_attribute("chat.error_code", code.value)
        metrics.ERRORS.labels(self.principal.tenant_slug, code.value).inc()
        await self._send(error_frame(code, message, retry_after=retry_after, limit=limit))

    async def _send(self, frame: dict[str, Any]) -> None:
        if self.open:
            await self.send(text_data=json.dumps(frame))
