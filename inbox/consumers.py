"""The inbox socket (``/ws/inbox/``, ``docs/protocol.md``): an agent's console live. It says who
of the team is online (the agent is, while a socket of theirs is open and not away), moves the
inbox's counts as conversations wait, are taken or handed back, and brings the users' messages,
their typing, colleagues' replies and private notes as they happen, on any instance; the agent's
own typing reaches the user of a conversation they hold. The same sign-in as the chat socket
(the page's session with its Origin checked, or a bearer token); members who are not agents are
refused (``FORBIDDEN``, 4403)."""

import math
import time
from typing import Any

import structlog
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from chat.frames import PING, PONG, Frame, agent_message_frame, database_down_frame, error_frame
from chat.heartbeat import SocketTimers
from chat.protocol import (
    CLOSE_RIGHTS_REVOKED,
    CLOSE_TOKEN_EXPIRED,
    CLOSE_TRY_AGAIN_LATER,
    ErrorCode,
    FrameError,
    parse_frame,
    parse_typing,
)
from chat.push import inbox_group, user_group
from chat.selectors import agent_name
from chat.ws_auth import ChatPrincipal, Refused, authenticate
from inbox import presence
from inbox.frames import (
    INBOX_CLIENT_FRAMES,
    agents_frame,
    inbox_frame,
    inbox_ready_frame,
    note_frame,
    user_message_frame,
    user_typing_frame,
)
from inbox.selectors import inbox_counts
from inbox.services import agent_typing, holder_user, waiting_route
from infra import safe_json
from infra.db import DATABASE_DOWN, in_db_thread
from tenants.models import AGENT_ROLES

log = structlog.stdlib.get_logger(__name__)

# An agent's typing reaches the user at most this often (a stop always does).
TYPING_EVERY_S = 2.0


class InboxConsumer(AsyncWebsocketConsumer):
    principal: ChatPrincipal

    async def connect(self) -> None:
        self.open = False
        try:
            principal = await authenticate(self.scope)
        except Refused as refusal:
            log.info("inbox.refused", reason=str(refusal))
            await self.close()
            return
        except DATABASE_DOWN:
            await self._refuse(None, database_down_frame(), CLOSE_TRY_AGAIN_LATER)
            return
        if principal.role not in AGENT_ROLES:
            forbidden = error_frame(ErrorCode.FORBIDDEN, "the inbox is the support team's")
            await self._refuse(principal.subprotocol, forbidden, CLOSE_RIGHTS_REVOKED)
            return
        self.principal = principal
        self.tenant_id, self.user_id = principal.tenant_id, principal.user_id
        self.typed_at: dict[int, float] = {}
        await self.accept(principal.subprotocol)
        self.open = True
        self.timers = SocketTimers(send_ping=self._ping, close=self._close)
        self.timers.start(expires_at=principal.expires_at)
        # Revocation (``chat.revocation``) is told to the user's group; the team's news to the inbox's.
        self.groups_joined = (
            user_group(tenant_id=self.tenant_id, user_id=self.user_id),
            inbox_group(self.tenant_id),
        )
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        ready = await in_db_thread(self._join)()
        await self._send(ready)
        await self._presence_changed()

    async def _refuse(self, subprotocol: str | None, frame: Frame, close_code: int) -> None:
        """Accepted only to say why it closes (a close code needs an open socket)."""
        offered = self.scope.get("subprotocols") or []
        await self.accept(subprotocol if subprotocol in offered else None)
        await self.send(text_data=safe_json.dumps(frame))
        await self.close(code=close_code)

    def _join(self) -> Frame:
        now = timezone.now()
        presence.presence_join(
            tenant_id=self.tenant_id, user_id=self.user_id, channel_name=self.channel_name, now=now
        )
        waiting_route(tenant_id=self.tenant_id, now=now)  # someone is here to take what waits
        user = get_user_model().objects.get(pk=self.user_id)
        self.agent_name = agent_name(user)
        return inbox_ready_frame(
            agent=user.username,
            counts=inbox_counts(tenant_id=self.tenant_id, agent_id=self.user_id),
            agents=presence.agents_presence(tenant_id=self.tenant_id, now=now),
        )

    async def disconnect(self, code: int) -> None:
        if not self.open:
            return
        self.open = False
        self.timers.stop()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        await in_db_thread(presence.presence_leave)(tenant_id=self.tenant_id, channel_name=self.channel_name)
        await self._presence_changed()

    async def _presence_changed(self) -> None:
        agents = await in_db_thread(presence.agents_presence)(tenant_id=self.tenant_id, now=timezone.now())
        await self.channel_layer.group_send(
            inbox_group(self.tenant_id), {"type": "inbox.presence", "agents": agents}
        )

    async def _close(self, code: int) -> None:
        await self.close(code=code)

    async def _ping(self) -> None:
        await self._send(PING)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = parse_frame(
                text_data, bytes_data, max_bytes=settings.CHAT_MAX_FRAME_BYTES, types=INBOX_CLIENT_FRAMES
            )
            await getattr(self, f"on_{frame['type']}")(frame)
        except FrameError as exc:
            await self._send(error_frame(exc.code, exc.message))
        except DATABASE_DOWN:
            await self._send(
                error_frame(ErrorCode.SERVICE_UNAVAILABLE, "the database is unavailable: try again")
            )

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self._send(PONG)

    async def on_pong(self, frame: dict[str, Any]) -> None:
        self.timers.pong()
        await in_db_thread(presence.presence_beat)(
            tenant_id=self.tenant_id, channel_name=self.channel_name, now=timezone.now()
        )

    async def on_presence(self, frame: dict[str, Any]) -> None:
        """``{"type": "presence", "away": bool}``: the console went idle (or came back)."""
        away = frame.get("away")
        if not isinstance(away, bool):
            raise FrameError(ErrorCode.BAD_REQUEST, "'away' must be true or false")
        await in_db_thread(presence.presence_away)(
            tenant_id=self.tenant_id, channel_name=self.channel_name, away=away, now=timezone.now()
        )
        if not away:
            await in_db_thread(waiting_route)(tenant_id=self.tenant_id, now=timezone.now())
        await self._presence_changed()

    async def on_typing(self, frame: dict[str, Any]) -> None:
        """``{"type": "typing", "conversation_id": int, "active": bool}``: to the user of a
        conversation the agent holds (``NOT_FOUND`` for any other)."""
        active = parse_typing(frame)
        conversation_id = frame.get("conversation_id")
        if not isinstance(conversation_id, int) or isinstance(conversation_id, bool):
            raise FrameError(ErrorCode.BAD_REQUEST, "'conversation_id' must be an integer")
        now = time.monotonic()
        if active and now - self.typed_at.get(conversation_id, -math.inf) < TYPING_EVERY_S:
            return
        user_id = await in_db_thread(holder_user)(
            tenant_id=self.tenant_id, conversation_id=conversation_id, agent_id=self.user_id
        )
        if user_id is None:
            raise FrameError(ErrorCode.NOT_FOUND, "no conversation of yours in the inbox with this id")
        self.typed_at[conversation_id] = now if active else -math.inf
        await agent_typing(
            tenant_id=self.tenant_id,
            user_id=user_id,
            conversation_id=conversation_id,
            active=active,
            agent=self.agent_name,
        )

    # -- the team's news (``chat.push.tell_inbox``), from any instance --------------------------

    async def inbox_changed(self, event: dict[str, Any]) -> None:
        counts = await in_db_thread(inbox_counts)(tenant_id=self.tenant_id, agent_id=self.user_id)
        await self._send(
            inbox_frame(
                conversation_id=event["conversation_id"],
                state=event["state"],
                assignee=event["assignee"],
                counts=counts,
            )
        )

    async def inbox_user_message(self, event: dict[str, Any]) -> None:
        await self._send(
            user_message_frame(
                conversation_id=event["conversation_id"],
                message_id=event["message_id"],
                content=event["content"],
            )
        )

    async def inbox_typing(self, event: dict[str, Any]) -> None:
        await self._send(user_typing_frame(conversation_id=event["conversation_id"], active=event["active"]))

    async def inbox_agent_message(self, event: dict[str, Any]) -> None:
        await self._send(
            agent_message_frame(
                conversation_id=event["conversation_id"],
                message_id=event["message_id"],
                content=event["content"],
                agent=event["agent"],
            )
        )

    async def inbox_note(self, event: dict[str, Any]) -> None:
        await self._send(
            note_frame(
                conversation_id=event["conversation_id"],
                note_id=event["note_id"],
                content=event["content"],
                agent=event["agent"],
            )
        )

    async def inbox_presence(self, event: dict[str, Any]) -> None:
        await self._send(agents_frame(event["agents"]))

    # -- the user's group: revocation, and the frames for the user's own chat sockets -----------

    async def user_push(self, event: dict[str, Any]) -> None:
        """Frames for this user's chat sockets: not this socket's business."""

    async def conversation_deleted(self, event: dict[str, Any]) -> None:
        """One of this user's own conversations: not this socket's business."""

    async def rights_revoked(self, event: dict[str, Any]) -> None:
        await self._send(error_frame(ErrorCode.ACCESS_REVOKED, "your access to this workspace has changed"))
        await self.close(code=CLOSE_RIGHTS_REVOKED)

    async def credentials_revoked(self, event: dict[str, Any]) -> None:
        if event["login_id"] is None or event["login_id"] == self.principal.login_id:
            await self.close(code=CLOSE_TOKEN_EXPIRED)

    async def _send(self, frame: Frame) -> None:
        if self.open:
            await self.send(text_data=safe_json.dumps(frame))
