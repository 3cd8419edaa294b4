"""WebSocket protocol v1 (DESIGN.md): the client frames' validation, the error codes and the close
codes. The frames the server sends are built in ``chat.frames``."""

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from infra import safe_json
from infra.db import BIGINT_MAX


class ErrorCode(StrEnum):
    BAD_REQUEST = "BAD_REQUEST"
    NOT_FOUND = "NOT_FOUND"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    RATE_LIMITED = "RATE_LIMITED"
    TOO_MANY_STREAMS = "TOO_MANY_STREAMS"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    BLOCKED_TOPIC = "BLOCKED_TOPIC"
    CONVERSATION_BUDGET_EXCEEDED = "CONVERSATION_BUDGET_EXCEEDED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # Sent just before a 4403 close: the membership, role, user or tenant changed.
    ACCESS_REVOKED = "ACCESS_REVOKED"
    # Sent just before a 4429 close: the user or the tenant has as many sockets open as allowed.
    TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
    # A widget socket at connect: the visitor token is missing, not ours, expired or another
    # site's (closed with 4401), or the site accepts verified visitors only (closed with 4403).
    UNAUTHENTICATED = "UNAUTHENTICATED"
    VERIFICATION_REQUIRED = "VERIFICATION_REQUIRED"
    # The inbox socket at connect: the member is not on the support team (closed with 4403).
    FORBIDDEN = "FORBIDDEN"


class FrameError(Exception):
    """A client frame the server refuses; answered with an ``error`` frame, connection kept."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


CLIENT_FRAME_TYPES = frozenset(
    {"message", "cancel", "ping", "pong", "feedback", "resume", "resolve", "escalate", "typing"}
)

# Close codes.
CLOSE_TOKEN_EXPIRED = 4401
# Rights revoked: membership removed or deactivated, role changed, user or tenant deactivated.
CLOSE_RIGHTS_REVOKED = 4403
# A conversation id that is not the caller's (unknown, or another user's or tenant's).
CLOSE_NOT_FOUND = 4404
CLOSE_PONG_TIMEOUT = 4408
# Too many sockets open at once, for the user or the tenant (an error frame names which first).
CLOSE_TOO_MANY_CONNECTIONS = 4429
# Service Restart (RFC 6455's registry): this instance is draining; reconnect, to another one.
CLOSE_SERVICE_RESTART = 1012
# Try Again Later (RFC 6455's registry): a dependency (the database) is down; reconnect with backoff.
CLOSE_TRY_AGAIN_LATER = 1013


def parse_frame(
    text_data: str | None,
    bytes_data: bytes | None,
    *,
    max_bytes: int,
    types: frozenset[str] = CLIENT_FRAME_TYPES,
) -> dict[str, Any]:
    """Decode one client frame into a dict with a known ``type`` (one of ``types``: the chat
    socket's by default, the inbox socket names its own), or raise FrameError."""
    if text_data is None:
        raise FrameError(ErrorCode.BAD_REQUEST, "frames are JSON text, not binary")
    if len(text_data) > max_bytes or len(text_data.encode()) > max_bytes:
        raise FrameError(ErrorCode.BAD_REQUEST, f"frame larger than {max_bytes} bytes")
    try:
        frame = safe_json.loads(text_data)
    except safe_json.UnsafeJSON as exc:
        raise FrameError(ErrorCode.BAD_REQUEST, f"frame refused: {exc}") from None
    if not isinstance(frame, dict):
        raise FrameError(ErrorCode.BAD_REQUEST, "frame must be a JSON object")
    frame_type = frame.get("type")
    if not isinstance(frame_type, str):
        raise FrameError(ErrorCode.BAD_REQUEST, "frame needs a string 'type'")
    if frame_type not in types:
        raise FrameError(ErrorCode.BAD_REQUEST, f"unknown frame type {frame_type[:40]!r}")
    return frame


MAX_FILES_PER_MESSAGE = 5


@dataclass(frozen=True, slots=True)
class UserMessage:
    content: str
    client_id: uuid.UUID
    files: tuple[int, ...] = ()  # the ids of the files it attaches (uploaded first)
    # The user asks for the last answer again: the tenant's default model answers it (not the
    # routed one), and neither a curated nor a cached answer is given.
    regenerate: bool = False
    # The conversation's last answer (its message_id) this message replaces with its own turn:
    # that answer and its question leave the model's context and stay as an earlier version.
    replaces: int | None = None


def parse_message(frame: dict[str, Any], *, max_chars: int) -> UserMessage:
    """The message's text, its client_id, the files it attaches, whether it regenerates, and the
    answer it replaces."""
    content = frame.get("content")
    if not isinstance(content, str) or not content.strip():
        raise FrameError(ErrorCode.BAD_REQUEST, "'content' must be a non-empty string")
    if len(content) > max_chars:
        raise FrameError(ErrorCode.BAD_REQUEST, f"'content' is longer than {max_chars} characters")
    client_id = frame.get("client_id")
    if not isinstance(client_id, str):
        raise FrameError(ErrorCode.BAD_REQUEST, "'client_id' must be a UUID string")
    try:
        parsed = uuid.UUID(client_id)
    except ValueError:
        raise FrameError(ErrorCode.BAD_REQUEST, "'client_id' must be a UUID string") from None
    files = frame.get("attachments", [])
    if (
        not isinstance(files, list)
        or len(files) > MAX_FILES_PER_MESSAGE
        or not all(isinstance(f, int) and not isinstance(f, bool) and f > 0 for f in files)
    ):
        raise FrameError(
            ErrorCode.BAD_REQUEST, f"'attachments' must be a list of at most {MAX_FILES_PER_MESSAGE} file ids"
        )
    regenerate = frame.get("regenerate", False)
    if not isinstance(regenerate, bool):
        raise FrameError(ErrorCode.BAD_REQUEST, "'regenerate' must be true or false")
    replaces = _integer(frame, "replaces") if frame.get("replaces") is not None else None
    if replaces is not None and not 0 < replaces <= BIGINT_MAX:
        raise FrameError(ErrorCode.BAD_REQUEST, "'replaces' must be a message id")
    return UserMessage(content, parsed, tuple(dict.fromkeys(files)), regenerate, replaces)


def _integer(frame: dict[str, Any], field: str) -> int:
    value = frame.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise FrameError(ErrorCode.BAD_REQUEST, f"'{field}' must be an integer")
    return value


def _optional_text(frame: dict[str, Any], field: str) -> str:
    value = frame.get(field, "")
    if not isinstance(value, str) or len(value) > 2000:
        raise FrameError(ErrorCode.BAD_REQUEST, f"'{field}' must be a string of at most 2000 characters")
    return value


def parse_feedback(frame: dict[str, Any]) -> tuple[int, int, str]:
    """``(message_id, rating, comment)`` of a ``feedback`` frame."""
    message_id, rating = _integer(frame, "message_id"), _integer(frame, "rating")
    if not 1 <= rating <= 5:
        raise FrameError(ErrorCode.BAD_REQUEST, "'rating' must be an integer from 1 to 5")
    return message_id, rating, _optional_text(frame, "comment")


def parse_escalate(frame: dict[str, Any]) -> str:
    """The optional ``reason`` of an ``escalate`` frame."""
    return _optional_text(frame, "reason")


def parse_typing(frame: dict[str, Any]) -> bool:
    """The ``active`` of a ``typing`` frame: whether the writer is typing (true) or stopped."""
    active = frame.get("active")
    if not isinstance(active, bool):
        raise FrameError(ErrorCode.BAD_REQUEST, "'active' must be true or false")
    return active


def parse_cancel(frame: dict[str, Any]) -> int | None:
    """The optional ``message_id`` of a ``cancel`` frame (None: the socket's own answer)."""
    return _integer(frame, "message_id") if "message_id" in frame else None


def parse_resume(frame: dict[str, Any]) -> tuple[int, int]:
    """``(message_id, after)`` of a ``resume`` frame."""
    return _integer(frame, "message_id"), _integer(frame, "after")
