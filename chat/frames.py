"""Every frame the server sends (protocol v1, ``docs/protocol.md``), typed and built here only.

Each frame is a ``TypedDict`` whose ``type`` is a literal; a builder function makes each one, so
a field the protocol does not name cannot slip into a frame, and a test checks that the frames
here are exactly those the protocol documents (``SERVER_FRAMES``). Frames travel as plain JSON
objects: through the generation store, the channel layer and the socket they are dicts.
"""

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, NotRequired, TypedDict, get_args, get_type_hints

from chat.gateway.llm import Usage
from chat.protocol import ErrorCode
from infra.db import DATABASE_DOWN_MESSAGE, DATABASE_DOWN_RETRY_AFTER_S

# Any server frame as it travels: built here, or read back from the generation store.
Frame = Mapping[str, Any]


class ReadyFrame(TypedDict):
    type: Literal["ready"]
    conversation_id: int
    greeting: str
    resumable: list[dict[str, Any]]
    show_usage: bool


class TypingFrame(TypedDict):
    type: Literal["typing"]
    active: bool


class TokenFrame(TypedDict):
    type: Literal["token"]
    message_id: int
    seq: int
    content: str


class ResponseFrame(TypedDict):
    type: Literal["response"]
    message_id: int
    conversation_id: int
    content: str
    cached: bool
    curated: NotRequired[bool]
    replayed: NotRequired[bool]


class UsageFields(TypedDict):
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    estimated: bool


class DoneFrame(TypedDict):
    type: Literal["done"]
    message_id: int
    finish_reason: str
    # A member's only: never sent to a widget visitor (``for_visitor``).
    model: NotRequired[str]
    usage: NotRequired[UsageFields]
    cost_usd: NotRequired[str]
    sources: NotRequired[list[dict[str, Any]]]


class ErrorFrame(TypedDict):
    type: Literal["error"]
    code: str
    message: str
    retry_after: NotRequired[float]
    limit: NotRequired[str]


class ToolFrame(TypedDict):
    type: Literal["tool"]
    message_id: int
    call_id: str
    name: str
    status: Literal["started", "done", "failed"]
    error: NotRequired[str]
    arguments: NotRequired[Any]


class RatedFrame(TypedDict):
    type: Literal["rated"]
    message_id: int
    rating: int


class ResolvedFrame(TypedDict):
    type: Literal["resolved"]


class EscalatedFrame(TypedDict):
    type: Literal["escalated"]
    notified: bool


class NoticeFrame(TypedDict):
    type: Literal["notice"]
    text: str


class HeldFrame(TypedDict):
    type: Literal["held"]
    conversation_id: int
    message_id: int


class AgentMessageFrame(TypedDict):
    type: Literal["agent_message"]
    conversation_id: int
    message_id: int
    content: str
    agent: str


class HandoffFrame(TypedDict):
    type: Literal["handoff"]
    conversation_id: int
    state: Literal["human", "bot"]
    agent: NotRequired[str]


class AgentTypingFrame(TypedDict):
    type: Literal["agent_typing"]
    conversation_id: int
    active: bool
    agent: str


class TitleFrame(TypedDict):
    type: Literal["title"]
    conversation_id: int
    title: str


class PingFrame(TypedDict):
    type: Literal["ping"]


class PongFrame(TypedDict):
    type: Literal["pong"]


ServerFrame = (
    ReadyFrame
    | TypingFrame
    | TokenFrame
    | ResponseFrame
    | DoneFrame
    | ErrorFrame
    | ToolFrame
    | RatedFrame
    | ResolvedFrame
    | EscalatedFrame
    | NoticeFrame
    | HeldFrame
    | AgentMessageFrame
    | HandoffFrame
    | AgentTypingFrame
    | TitleFrame
    | PingFrame
    | PongFrame
)

# The fields of a frame that only members see: the model, tokens and cost of an answer, and the
# arguments the model gave a tool (the tenant's systems' business).
_MEMBERS_ONLY = {"done": ("model", "usage", "cost_usd"), "tool": ("arguments",)}


def for_visitor(frame: Frame) -> Frame:
    """``frame`` as a widget visitor receives it: without the fields only members see."""
    hidden = _MEMBERS_ONLY.get(frame.get("type", ""), ())
    if not any(name in frame for name in hidden):
        return frame
    return {name: value for name, value in frame.items() if name not in hidden}


# The ``type`` of every server frame, as the protocol's table lists them.
SERVER_FRAMES: frozenset[str] = frozenset(
    get_args(get_type_hints(frame)["type"])[0] for frame in get_args(ServerFrame)
)


def ready_frame(
    *, conversation_id: int, greeting: str, resumable: list[dict[str, Any]], show_usage: bool
) -> ReadyFrame:
    return {
        "type": "ready",
        "conversation_id": conversation_id,
        "greeting": greeting,
        "resumable": resumable,
        "show_usage": show_usage,
    }


TYPING_ON: TypingFrame = {"type": "typing", "active": True}
TYPING_OFF: TypingFrame = {"type": "typing", "active": False}
PING: PingFrame = {"type": "ping"}
PONG: PongFrame = {"type": "pong"}
RESOLVED: ResolvedFrame = {"type": "resolved"}


def token_frame(*, message_id: int, seq: int, content: str) -> TokenFrame:
    return {"type": "token", "message_id": message_id, "seq": seq, "content": content}


def done_frame(
    *,
    message_id: int,
    finish_reason: str,
    model: str,
    usage: Usage,
    cost_usd: Decimal,
    sources: Sequence[dict[str, Any]] = (),
) -> DoneFrame:
    frame: DoneFrame = {
        "type": "done",
        "message_id": message_id,
        "finish_reason": finish_reason,
        "model": model,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
            "estimated": usage.estimated,
        },
        "cost_usd": f"{cost_usd:f}",
    }
    if sources:  # the answer was given knowledge-base passages: what it may cite as [n]
        frame["sources"] = list(sources)
    return frame


def response_frame(
    *,
    message_id: int,
    conversation_id: int,
    content: str,
    cached: bool,
    curated: bool = False,
    replayed: bool = False,
) -> ResponseFrame:
    """A whole answer at once: a cache hit (the tenant's curated answer, or a cached one), or a
    stored answer replayed for its client_id."""
    frame: ResponseFrame = {
        "type": "response",
        "message_id": message_id,
        "conversation_id": conversation_id,
        "content": content,
        "cached": cached,
    }
    if curated:
        frame["curated"] = True
    if replayed:
        frame["replayed"] = True
    return frame


def error_frame(
    code: ErrorCode, message: str, *, retry_after: float | None = None, limit: str | None = None
) -> ErrorFrame:
    frame: ErrorFrame = {"type": "error", "code": code.value, "message": message}
    if retry_after is not None:
        frame["retry_after"] = retry_after
    if limit is not None:
        frame["limit"] = limit
    return frame


def tool_frame(
    *,
    message_id: int,
    call_id: str,
    name: str,
    status: Literal["started", "done", "failed"],
    error: str = "",
    arguments: Any = None,
) -> ToolFrame:
    """``arguments`` only when the tenant shows them (None: left out)."""
    frame: ToolFrame = {
        "type": "tool",
        "message_id": message_id,
        "call_id": call_id,
        "name": name,
        "status": status,
    }
    if arguments is not None:
        frame["arguments"] = arguments
    if error:
        frame["error"] = error
    return frame


def rated_frame(*, message_id: int, rating: int) -> RatedFrame:
    return {"type": "rated", "message_id": message_id, "rating": rating}


def escalated_frame(*, notified: bool) -> EscalatedFrame:
    return {"type": "escalated", "notified": notified}


def notice_frame(text: str) -> NoticeFrame:
    return {"type": "notice", "text": text}


def too_many_connections_frame(limit: str, most: int) -> ErrorFrame:
    """Sent before a 4429 close: ``limit`` is ``user_sockets`` or ``tenant_sockets``."""
    message = f"at most {most} chat connections at once ({limit}): close one first"
    return error_frame(ErrorCode.TOO_MANY_CONNECTIONS, message, limit=limit)


def database_down_frame() -> ErrorFrame:
    return error_frame(
        ErrorCode.SERVICE_UNAVAILABLE, DATABASE_DOWN_MESSAGE, retry_after=DATABASE_DOWN_RETRY_AFTER_S
    )


def held_frame(*, conversation_id: int, message_id: int) -> HeldFrame:
    """The message went to the agent who holds the conversation: no answer of the bot's follows."""
    return {"type": "held", "conversation_id": conversation_id, "message_id": message_id}


def agent_message_frame(
    *, conversation_id: int, message_id: int, content: str, agent: str
) -> AgentMessageFrame:
    return {
        "type": "agent_message",
        "conversation_id": conversation_id,
        "message_id": message_id,
        "content": content,
        "agent": agent,
    }


def handoff_frame(*, conversation_id: int, state: Literal["human", "bot"], agent: str = "") -> HandoffFrame:
    frame: HandoffFrame = {"type": "handoff", "conversation_id": conversation_id, "state": state}
    if agent:
        frame["agent"] = agent
    return frame


def agent_typing_frame(*, conversation_id: int, active: bool, agent: str) -> AgentTypingFrame:
    """The agent who holds the conversation is typing (or stopped) a reply."""
    return {"type": "agent_typing", "conversation_id": conversation_id, "active": active, "agent": agent}


def title_frame(*, conversation_id: int, title: str) -> TitleFrame:
    """The conversation got its title (written in the background after its first answer)."""
    return {"type": "title", "conversation_id": conversation_id, "title": title}
