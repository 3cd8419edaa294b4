"""Every frame the inbox socket sends an agent (``docs/protocol.md``, "The inbox socket"), typed
and built here only, like the chat's (``chat.frames``); its ``agent_message``, ``ping``, ``pong``
and ``error`` are the chat's."""

from typing import Any, Literal, TypedDict, get_args, get_type_hints

from chat.frames import AgentMessageFrame, ErrorFrame, PingFrame, PongFrame


class Counts(TypedDict):
    waiting: int  # waiting for a human, assigned or not
    unassigned: int
    mine: int  # held by or assigned to the agent reading it
    all: int


class InboxReadyFrame(TypedDict):
    type: Literal["inbox_ready"]
    agent: str
    counts: Counts
    agents: list[dict[str, Any]]


class InboxFrame(TypedDict):
    type: Literal["inbox"]
    conversation_id: int
    state: str  # waiting, human, bot, resolved
    assignee: str | None
    counts: Counts


class UserMessageFrame(TypedDict):
    type: Literal["user_message"]
    conversation_id: int
    message_id: int
    content: str


class UserTypingFrame(TypedDict):
    type: Literal["user_typing"]
    conversation_id: int
    active: bool


class NoteFrame(TypedDict):
    type: Literal["note"]
    conversation_id: int
    note_id: int
    content: str
    agent: str


class AgentsFrame(TypedDict):
    type: Literal["agents"]
    agents: list[dict[str, Any]]


InboxServerFrame = (
    InboxReadyFrame
    | InboxFrame
    | UserMessageFrame
    | UserTypingFrame
    | AgentMessageFrame
    | NoteFrame
    | AgentsFrame
    | ErrorFrame
    | PingFrame
    | PongFrame
)

INBOX_SERVER_FRAMES: frozenset[str] = frozenset(
    get_args(get_type_hints(frame)["type"])[0] for frame in get_args(InboxServerFrame)
)
INBOX_CLIENT_FRAMES = frozenset({"ping", "pong", "typing", "presence"})


def inbox_ready_frame(*, agent: str, counts: Counts, agents: list[dict[str, Any]]) -> InboxReadyFrame:
    return {"type": "inbox_ready", "agent": agent, "counts": counts, "agents": agents}


def inbox_frame(*, conversation_id: int, state: str, assignee: str | None, counts: Counts) -> InboxFrame:
    return {
        "type": "inbox",
        "conversation_id": conversation_id,
        "state": state,
        "assignee": assignee,
        "counts": counts,
    }


def user_message_frame(*, conversation_id: int, message_id: int, content: str) -> UserMessageFrame:
    return {
        "type": "user_message",
        "conversation_id": conversation_id,
        "message_id": message_id,
        "content": content,
    }


def user_typing_frame(*, conversation_id: int, active: bool) -> UserTypingFrame:
    return {"type": "user_typing", "conversation_id": conversation_id, "active": active}


def note_frame(*, conversation_id: int, note_id: int, content: str, agent: str) -> NoteFrame:
    return {
        "type": "note",
        "conversation_id": conversation_id,
        "note_id": note_id,
        "content": content,
        "agent": agent,
    }


def agents_frame(agents: list[dict[str, Any]]) -> AgentsFrame:
    return {"type": "agents", "agents": agents}
