"""The chat WebSocket (protocol v1, ``docs/protocol.md``). A thin adapter: it authenticates,
parses frames and hands them to the turn runner (``chat.turns``), and it is the ``TurnSink`` the
runner emits to. Answers do not belong to the socket: closing it only detaches it."""

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

import structlog
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from chat import drain
from chat.protocol import (
    CLOSE_NOT_FOUND,
    CLOSE_PONG_TIMEOUT,
    CLOSE_RIGHTS_REVOKED,
    CLOSE_SERVICE_RESTART,
    CLOSE_TOKEN_EXPIRED,
    ErrorCode,
    FrameError,
    error_frame,
    parse_cancel,
    parse_escalate,
    parse_feedback,
    parse_frame,
    parse_message,
    parse_resume,
)
from chat.push import user_group
from chat.selectors import ConversationNotFound, conversation_for_user
from chat.services import (
    MessageNotFound,
    conversation_resolve,
    conversation_start,
    feedback_record,
)
from chat.support import asks_for_human, escalate
from chat.turns.generations import Generation, generation_registry
from chat.turns.prepare import ChatSession, RightsRevoked
from chat.turns.runner import (
    Attachment,
    GenerationNotFound,
    generation_cancel,
    generation_resume,
    resumable,
    turn_submit,
)
from chat.ws_auth import ChatPrincipal, Refused, authenticate
from chatplatform import metrics
from chatplatform.db import in_db_thread
from tenants.experiments import Overrides
from tenants.selectors import ChatConfig

log = structlog.stdlib.get_logger(__name__)


class ChatConsumer(AsyncWebsocketConsumer):
    principal: ChatPrincipal
    session: ChatSession
    config: ChatConfig

    async def connect(self) -> None:
        self.open = False
        # The message being prepared (until its generation starts), and what this socket follows.
        self.turn: asyncio.Task[None] | None = None
        self.turn_client_id: uuid.UUID | None = None
        self.attachment: Attachment | None = None
        # A cancel that came while the message was being prepared, before its generation started.
        self.cancel_early = asyncio.Event()
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
            self.session, self.config = await in_db_thread(self._open_session)(requested)
        except ConversationNotFound:
            await self.accept(self.principal.subprotocol)
            await self.send(text_data=json.dumps(error_frame(ErrorCode.NOT_FOUND, "no such conversation")))
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.accept(self.principal.subprotocol)
        self.open = True
        drain.register(self)
        metrics.WS_CONNECTIONS.labels(self.principal.tenant_slug).inc()
        self.user_group = user_group(tenant_id=self.principal.tenant_id, user_id=self.principal.user_id)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        structlog.contextvars.bind_contextvars(conversation_id=self.session.conversation_id)
        self._arm_token_expiry()
        self._schedule_ping()
        generation_registry().start_background()
        log.info("ws.connected", auth="token" if self.principal.expires_at else "session")
        # A new conversation has nothing to resume: no store round trip.
        found = await resumable(session=self.session) if requested is not None else []
        await self._send(
            {
                "type": "ready",
                "conversation_id": self.session.conversation_id,
                "greeting": self.config.greeting,
                "resumable": found,
            }
        )

    def _open_session(self, requested: int | None) -> tuple[ChatSession, ChatConfig]:
        tenant_id, user_id = self.principal.tenant_id, self.principal.user_id
        if requested is None:
            conversation = conversation_start(tenant_id=tenant_id, user_id=user_id)
        else:
            conversation = conversation_for_user(
                tenant_id=tenant_id, user_id=user_id, conversation_id=requested
            )
        # The conversation keeps the variant it started in, for all its messages.
        variant = conversation.variant
        session = ChatSession(
            tenant_id=tenant_id,
            tenant_slug=self.principal.tenant_slug,
            user_id=user_id,
            conversation_id=conversation.pk,
            role=self.principal.role,
            overrides=Overrides.of(variant) if variant is not None else None,
        )
        return session, session.config()

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
        log.info("ws.disconnected", code=code)
        await self.channel_layer.group_discard(self.user_group, self.channel_name)
        for timer in (self.expiry, self.heartbeat):
            if timer is not None:
                timer.cancel()
        # The answer goes on without this socket (until its orphan grace): it is only detached
        # (a message still being prepared detaches once its generation starts: ``_submit``).
        if self.attachment is not None:
            self.attachment.detach(self)

    async def drain(self, grace_s: float) -> None:
        """Let the answer this instance runs for this socket finish (cancelled after
        ``grace_s``: stored and billed), then close with 1012. An answer another instance runs
        is not this instance's to stop: the client resumes it after reconnecting elsewhere.
        Answers no socket follows are drained by the registry (``chat.drain``)."""
        if self.turn is not None and not self.turn.done():
            await self.turn
        attachment = self.attachment
        if isinstance(attachment, Generation) and not attachment.finished.is_set():
            try:
                await asyncio.wait_for(asyncio.shield(attachment.finished.wait()), grace_s)
            except TimeoutError:
                attachment.cancel()
                await attachment.finished.wait()
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

    def _busy(self) -> bool:
        """A message of this socket is being prepared, or the answer it follows has no ``done``."""
        if self.turn is not None and not self.turn.done():
            return True
        return self.attachment is not None and not self.attachment.answered.is_set()

    async def on_message(self, frame: dict[str, Any]) -> None:
        content, client_id = parse_message(frame, max_chars=self.config.max_message_chars)
        if drain.is_draining():
            raise FrameError(ErrorCode.SERVICE_UNAVAILABLE, "this server is restarting: reconnect and resend")
        if self._busy() and client_id != self.turn_client_id:
            raise FrameError(
                ErrorCode.BAD_REQUEST, "an answer is still streaming: wait for done or cancel it"
            )
        if self.turn is not None and not self.turn.done():
            return  # the same message again while it is being prepared: it is answered once
        self.turn_client_id = client_id
        self.cancel_early = asyncio.Event()
        self.turn = asyncio.create_task(self._submit(content, client_id))

    async def _submit(self, content: str, client_id: uuid.UUID) -> None:
        if asks_for_human(content):
            await self.on_escalate({"type": "escalate", "reason": f"asked in the chat: {content[:500]}"})
        try:
            attachment = await turn_submit(
                session=self.session,
                content=content,
                client_id=client_id,
                sink=self,
                cancel=self.cancel_early,
            )
        except RightsRevoked:
            await self.revoke()
            return
        except Exception:
            log.exception("chat.turn_failed")
            await self._send_error(ErrorCode.INTERNAL_ERROR, "the answer could not be completed")
            return
        if attachment is None:
            return
        if self.attachment is not None and self.attachment is not attachment:
            self.attachment.detach(self)
        self.attachment = attachment
        if not self.open:  # closed while the message was prepared: the answer goes on, unattached
            attachment.detach(self)
        elif self.cancel_early.is_set():
            await self._cancel(attachment.key.message_id)

    async def on_cancel(self, frame: dict[str, Any]) -> None:
        message_id = parse_cancel(frame)
        if message_id is None:
            if self.turn is not None and not self.turn.done():
                self.cancel_early.set()
                return
            if self.attachment is None or self.attachment.answered.is_set():
                raise FrameError(ErrorCode.NOT_FOUND, "no answer is streaming")
            message_id = self.attachment.key.message_id
        await self._cancel(message_id)

    async def _cancel(self, message_id: int) -> None:
        try:
            await generation_cancel(session=self.session, message_id=message_id)
        except GenerationNotFound:
            raise FrameError(ErrorCode.NOT_FOUND, "no answer with that id is streaming") from None

    async def on_resume(self, frame: dict[str, Any]) -> None:
        message_id, after = parse_resume(frame)
        current = self.attachment.key.message_id if self.attachment is not None else None
        if self._busy() and message_id != current:
            raise FrameError(
                ErrorCode.BAD_REQUEST, "an answer is still streaming: wait for done or cancel it"
            )
        try:
            attachment = await generation_resume(
                session=self.session, message_id=message_id, after=after, sink=self
            )
        except GenerationNotFound:
            raise FrameError(ErrorCode.NOT_FOUND, "no resumable generation with that id") from None
        if self.attachment is not None and self.attachment is not attachment:
            self.attachment.detach(self)
        self.attachment = attachment
        self.turn_client_id = uuid.UUID(attachment.info.client_id)

    async def emit(self, frame: dict[str, Any]) -> None:
        """The runner's and the generations' frames (``TurnSink``)."""
        await self._send(frame)

    async def user_push(self, event: dict[str, Any]) -> None:
        """A frame for every socket of this user (``chat.push``), from any instance."""
        await self._send(event["frame"])

    async def rights_revoked(self, event: dict[str, Any]) -> None:
        """The user's rights in this tenant changed (``chat.revocation``), on any instance."""
        await self.revoke()

    async def revoke(self) -> None:
        """Rights gone: the answer this socket follows stops, and the socket closes with 4403."""
        log.info("ws.revoked")
        if self.attachment is not None and not self.attachment.answered.is_set():
            with contextlib.suppress(FrameError):
                await self._cancel(self.attachment.key.message_id)
        await self._send_error(ErrorCode.ACCESS_REVOKED, "your access to this workspace has changed")
        await self.close(code=CLOSE_RIGHTS_REVOKED)

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
            tenant_id=self.principal.tenant_id,
            conversation_id=self.session.conversation_id,
            now=timezone.now(),
        )
        await self._send({"type": "resolved"})

    async def on_escalate(self, frame: dict[str, Any]) -> None:
        """The user asks for a human (a frame, or in words): the tenant's team gets an e-mail."""
        reason = parse_escalate(frame)
        await in_db_thread(escalate)(
            tenant_id=self.principal.tenant_id,
            conversation_id=self.session.conversation_id,
            reason=reason,
            now=timezone.now(),
        )
        await self._send({"type": "escalated"})

    async def _send_error(self, code: ErrorCode, message: str) -> None:
        metrics.ERRORS.labels(self.principal.tenant_slug, code.value).inc()
        await self._send(error_frame(code, message))

    async def _send(self, frame: dict[str, Any]) -> None:
        if self.open:
            await self.send(text_data=json.dumps(frame))
