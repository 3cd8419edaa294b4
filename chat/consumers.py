"""The chat WebSocket (protocol v1, ``docs/protocol.md``). A thin adapter: it authenticates,
parses frames and hands them on (turns to ``chat.turns.SinkTurns``, support frames to their
services), and it is the ``TurnSink`` the turn runner emits to. Answers do not belong to the
socket: closing it only detaches it."""

from typing import Any

import structlog
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from billing.sockets import SocketSlots
from chat import drain
from chat.events import get_event_counts
from chat.frames import PING, PONG, Frame, database_down_frame, error_frame, ready_frame
from chat.heartbeat import SocketTimers
from chat.opening import OpenSocket, SocketRefused, socket_open
from chat.protocol import (
    CLOSE_NOT_FOUND,
    CLOSE_RIGHTS_REVOKED,
    CLOSE_SERVICE_RESTART,
    CLOSE_TOKEN_EXPIRED,
    ErrorCode,
    FrameError,
    parse_cancel,
    parse_escalate,
    parse_frame,
    parse_message,
    parse_resume,
    parse_typing,
)
from chat.push import key_group, user_group
from chat.support import HandoverRules, TypingRelay, escalation_request, rating_request, resolution_request
from chat.turn import ChatSession
from chat.turns.generations import generation_registry
from chat.turns.runner import resumable
from chat.turns.sink_turns import SinkTurns
from chat.ws_auth import SUBPROTOCOL, ChatPrincipal
from infra import memory, metrics, safe_json
from infra.db import DATABASE_DOWN
from tenants.selectors import ChatConfig

log = structlog.stdlib.get_logger(__name__)


class ChatConsumer(AsyncWebsocketConsumer):
    principal: ChatPrincipal
    session: ChatSession
    config: ChatConfig
    turns: SinkTurns

    async def connect(self) -> None:
        self.open = False
        self.timers = SocketTimers(send_ping=self._ping, close=self._close)
        self.slots: SocketSlots | None = None
        try:
            opened = await self.socket_open()
        except SocketRefused as refusal:
            if refusal.frame is None:
                await self.close()
            else:
                await self._refuse_open(refusal.frame, refusal.close_code)
            return
        self.principal, self.session, self.config = opened.principal, opened.session, opened.config
        self.slots = opened.slots
        await self.accept(self.principal.subprotocol)
        self.open = True
        self.turns = SinkTurns(session=self.session, sink=self, on_revoked=self.revoke)
        self.typing = TypingRelay(self.session)
        self.rules = HandoverRules(session=self.session, config=self.config, sink=self)
        drain.register(self)
        metrics.WS_CONNECTIONS.labels(self.principal.tenant_slug).inc()
        self.user_group = user_group(tenant_id=self.principal.tenant_id, user_id=self.principal.user_id)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        if self.principal.key_id is not None:
            await self.channel_layer.group_add(self._key_group(), self.channel_name)
        structlog.contextvars.bind_contextvars(conversation_id=self.session.conversation_id)
        self.timers.start(expires_at=self.principal.expires_at)
        generation_registry().start_background()
        get_event_counts().start_flushing()
        log.info("ws.connected", auth="token" if self.principal.by_token else "session")
        # A new conversation has nothing to resume: no store round trip.
        found = await resumable(session=self.session) if opened.continued else []
        await self._send(
            ready_frame(
                conversation_id=self.session.conversation_id,
                greeting=self.config.greeting,
                resumable=found,
                show_usage=self.config.shows_usage_to(self.session.role),
            )
        )

    async def socket_open(self) -> OpenSocket:
        """Who connects, in which conversation (a member here; the widget's consumer opens a
        visitor's socket)."""
        return await socket_open(self.scope)

    async def _refuse_open(self, frame: Frame, close_code: int | None) -> None:
        """Accepted only to say why it closes (a close code needs an open socket)."""
        offered = self.scope.get("subprotocols") or []
        await self.accept(SUBPROTOCOL if SUBPROTOCOL in offered else None)
        await self.send(text_data=safe_json.dumps(frame))
        await self.close(code=close_code)

    async def _close(self, code: int) -> None:
        await self.close(code=code)

    async def _ping(self) -> None:
        """The heartbeat: a ``ping`` frame, and the socket's slots kept alive."""
        await self._send(PING)
        if self.slots is not None:
            await self.slots.renew()

    async def disconnect(self, code: int) -> None:
        memory.releaser().socket_closed()
        if self.slots is not None:
            slots, self.slots = self.slots, None
            await slots.release()
        if not self.open:
            return
        self.open = False
        drain.unregister(self)
        metrics.WS_CONNECTIONS.labels(self.principal.tenant_slug).dec()
        log.info("ws.disconnected", code=code)
        await self.channel_layer.group_discard(self.user_group, self.channel_name)
        if self.principal.key_id is not None:
            await self.channel_layer.group_discard(self._key_group(), self.channel_name)
        self.timers.stop()
        self.turns.close()

    async def drain(self, grace_s: float) -> None:
        """Let this socket's answer finish (``SinkTurns.drain``), then close with 1012. Answers
        no socket follows are drained by the registry (``chat.drain``)."""
        await self.turns.drain(grace_s)
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
            metrics.ERRORS.labels(self.principal.tenant_slug, exc.code.value).inc()
            await self._send(error_frame(exc.code, exc.message))
        except DATABASE_DOWN as exc:
            log.warning("ws.database_unavailable", error=repr(exc))
            metrics.ERRORS.labels(self.principal.tenant_slug, ErrorCode.SERVICE_UNAVAILABLE.value).inc()
            await self._send(database_down_frame())

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self._send(PONG)

    async def on_pong(self, frame: dict[str, Any]) -> None:
        self.timers.pong()

    async def on_message(self, frame: dict[str, Any]) -> None:
        message = parse_message(frame, max_chars=self.config.max_message_chars)
        if drain.is_draining():
            raise FrameError(ErrorCode.SERVICE_UNAVAILABLE, "this server is restarting: reconnect and resend")
        await self.turns.message(message)

    async def on_cancel(self, frame: dict[str, Any]) -> None:
        await self.turns.cancel(parse_cancel(frame))

    async def on_resume(self, frame: dict[str, Any]) -> None:
        await self.turns.resume(*parse_resume(frame))

    async def on_feedback(self, frame: dict[str, Any]) -> None:
        rated = await rating_request(session=self.session, frame=frame)
        await self._send(rated)
        await self.rules.rated(rated["rating"])

    async def on_resolve(self, frame: dict[str, Any]) -> None:
        await self._send(await resolution_request(session=self.session))

    async def on_escalate(self, frame: dict[str, Any]) -> None:
        await escalation_request(session=self.session, reason=parse_escalate(frame), sink=self)

    async def on_typing(self, frame: dict[str, Any]) -> None:
        await self.typing.typing(parse_typing(frame))

    async def emit(self, frame: Frame) -> None:
        """The runner's and the generations' frames (``TurnSink``)."""
        await self._send(frame)
        if frame["type"] in ("done", "error"):
            await self.rules.sent(frame)

    def _key_group(self) -> str:
        assert self.principal.key_id is not None
        return key_group(tenant_id=self.principal.tenant_id, key_id=self.principal.key_id)

    async def user_push(self, event: dict[str, Any]) -> None:
        """A frame for every socket of this user (``chat.push``), from any instance."""
        await self._send(event["frame"])

    async def rights_revoked(self, event: dict[str, Any]) -> None:
        """The user's rights in this tenant changed (``chat.revocation``), on any instance."""
        await self.revoke()

    async def credentials_revoked(self, event: dict[str, Any]) -> None:
        """A sign-in of the user ended (``login_id``: a logout, this socket's or another's) or the
        password changed (``login_id`` None: every socket) (``chat.revocation``): the answer this
        socket follows stops, and it closes with 4401, as when a token expires."""
        if event["login_id"] is not None and event["login_id"] != self.principal.login_id:
            return
        log.info("ws.credentials_revoked")
        await self.turns.stop()
        await self.close(code=CLOSE_TOKEN_EXPIRED)

    async def conversation_deleted(self, event: dict[str, Any]) -> None:
        """The user deleted a conversation (``chat.services.conversation_delete``), on any instance:
        a socket in it stops its answer and closes with 4404, as if it never existed."""
        if event["conversation_id"] != self.session.conversation_id:
            return
        await self.turns.stop()
        await self._send(error_frame(ErrorCode.NOT_FOUND, "this conversation was deleted"))
        await self.close(code=CLOSE_NOT_FOUND)

    async def revoke(self) -> None:
        """Rights gone: the answer this socket follows stops, and the socket closes with 4403."""
        log.info("ws.revoked")
        await self.turns.stop()
        metrics.ERRORS.labels(self.principal.tenant_slug, ErrorCode.ACCESS_REVOKED.value).inc()
        await self._send(error_frame(ErrorCode.ACCESS_REVOKED, "your access to this workspace has changed"))
        await self.close(code=CLOSE_RIGHTS_REVOKED)

    async def _send(self, frame: Frame) -> None:
        if self.open:
            await self.send(text_data=safe_json.dumps(frame))
