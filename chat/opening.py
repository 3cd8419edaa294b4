"""Opening a chat socket, before it is accepted: who connects (``chat.ws_auth``), in which
conversation (``chat.turns.prepare.session_open``), and whether the user and the tenant have a
socket slot left (``billing.sockets``). The consumer only accepts what this returns, or refuses
as ``SocketRefused`` says."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from billing.sockets import SocketSlots, TooManySockets, socket_slots_take
from chat import drain
from chat.frames import ErrorFrame, database_down_frame, error_frame, too_many_connections_frame
from chat.protocol import CLOSE_NOT_FOUND, CLOSE_TOO_MANY_CONNECTIONS, CLOSE_TRY_AGAIN_LATER, ErrorCode
from chat.selectors import ConversationNotFound
from chat.turn import ChatSession
from chat.turns.prepare import session_open
from chat.ws_auth import ChatPrincipal, Refused, authenticate
from infra import metrics
from infra.db import DATABASE_DOWN, in_db_thread
from tenants.selectors import ChatConfig

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OpenSocket:
    principal: ChatPrincipal
    session: ChatSession
    config: ChatConfig
    slots: SocketSlots | None
    # The caller named the conversation (``/ws/chat/<id>/``): it may have answers to resume.
    continued: bool


class SocketRefused(Exception):
    """The socket is not opened. With a ``frame``, it is accepted only to send it and close with
    ``close_code`` (a close code needs an open socket); without, the handshake is refused (403)."""

    def __init__(self, frame: ErrorFrame | None = None, close_code: int | None = None) -> None:
        super().__init__(frame)
        self.frame = frame
        self.close_code = close_code


Authenticator = Callable[[dict[str, Any]], Awaitable[ChatPrincipal]]


async def socket_open(scope: dict[str, Any], authenticate: Authenticator = authenticate) -> OpenSocket:
    """``authenticate``: who may connect at this path (``chat.ws_auth``'s members by default;
    the widget's visitors on its own path)."""
    if drain.is_draining():
        log.info("ws.refused", reason="draining", path=scope.get("path"))
        raise SocketRefused
    requested = scope["url_route"]["kwargs"].get("conversation_id")
    try:
        principal = await authenticate(scope)
        structlog.contextvars.bind_contextvars(tenant=principal.tenant_slug, user_id=principal.user_id)
        session, config = await in_db_thread(session_open)(
            tenant_id=principal.tenant_id,
            tenant_slug=principal.tenant_slug,
            user_id=principal.user_id,
            role=principal.role,
            conversation_id=requested,
            access_sql=principal.access_sql,
            visitor=principal.visitor,
        )
    except Refused as refusal:
        log.info("ws.refused", reason=str(refusal), path=scope.get("path"))
        if refusal.code is None:
            raise SocketRefused from None
        raise SocketRefused(error_frame(refusal.code, str(refusal)), refusal.close_code) from None
    except ConversationNotFound:
        not_found = error_frame(ErrorCode.NOT_FOUND, "no such conversation")
        raise SocketRefused(not_found, CLOSE_NOT_FOUND) from None
    except DATABASE_DOWN as exc:
        log.warning("ws.refused", reason="database unavailable", error=repr(exc))
        raise SocketRefused(database_down_frame(), CLOSE_TRY_AGAIN_LATER) from None
    try:
        slots = await socket_slots_take(
            tenant_id=principal.tenant_id, user_id=principal.user_id, limits=config.limits
        )
    except TooManySockets as full:
        log.info("ws.refused", reason="too many sockets", limit=full.limit)
        metrics.ERRORS.labels(principal.tenant_slug, ErrorCode.TOO_MANY_CONNECTIONS.value).inc()
        raise SocketRefused(
            too_many_connections_frame(full.limit, full.most), CLOSE_TOO_MANY_CONNECTIONS
        ) from None
    return OpenSocket(
        principal=principal, session=session, config=config, slots=slots, continued=requested is not None
    )
