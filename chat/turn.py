"""The turn: what every step of a message's path hands to the next, and its JSON codec.

Types apart from the engine that runs them (``chat.turns``): the caches, the fallback, the
recorder and the outbox read a ``PreparedTurn`` and an ``Outcome`` without importing the
streaming engine; ``ChatSession`` is who chats where, ``TurnRefused`` a message that gets an
``error`` frame, ``TurnSink`` where a turn's frames go. The codec writes a turn and its outcome
as JSON for what must outlive the process that prepared them: the generation store's record
(``chat.turns.reaper``) and the outbox of turns the database could not take
(``chat.history.outbox``); the prompt is left out: only the turn's own messages are stored.
"""

import uuid
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

from billing.admission import Spend, VisitorLimits
from billing.pricing import Price
from chat.frames import Frame
from chat.gateway.llm import ChatRequest, Usage
from chat.protocol import ErrorCode
from tenants.experiments import Overrides
from tenants.selectors import ChatConfig, chat_config_get


@dataclass(frozen=True, slots=True)
class PreparedTurn:
    tenant_id: int
    tenant_slug: str
    user_id: int
    conversation_id: int
    user_message_id: int
    answer_message_id: int
    client_id: uuid.UUID
    content: str
    request: ChatRequest
    price: Price
    route: str = ""
    fallback_from: str = ""  # the model the circuit breaker took this turn away from
    # Messages the conversation's summary covers, and whether recent ones did not fit the context.
    summary_message_count: int = 0
    context_overflow: bool = False
    variant_id: int | None = None  # the conversation's A/B variant
    message_count: int = 0  # the conversation's messages before this turn
    # The knowledge-base passages in the context, as the client cites them (``done.sources``).
    sources: tuple[dict[str, Any], ...] = ()
    # Tool rounds the answer may take (the tenant's ``max_tool_rounds``; 0: no tools offered).
    tool_rounds: int = 0
    # The files the user message attaches (chat.files), bound to it when the turn is recorded.
    files: tuple[int, ...] = ()
    # The member's own monthly token budget, held with the tenant's (None: none).
    user_budget: int | None = None
    # The tenant's curated answer the question matched (knowledge.curated): given, not generated.
    curated_answer_id: int | None = None
    curated_answer: str = ""
    # The user asked for the last answer again: the model gives a new one, not a cache.
    regenerate: bool = False
    # The question of the turn this one replaces (``UserMessage.replaces``): from it on, the
    # conversation's messages become earlier versions when this turn is recorded.
    replaces: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    text: str
    finish_reason: str
    usage: Usage
    cost_usd: Decimal
    ttft_ms: int | None
    latency_ms: int
    error: str | None = None
    cached: bool = False  # answered from the response cache
    # The tools the model called, in order: name, status, arguments, error, latency, result excerpt.
    tool_calls: tuple[dict[str, Any], ...] = ()

    @property
    def spent(self) -> Spend:
        """What the answer spent, as its budgets count it."""
        return Spend(tokens=self.usage.input_tokens + self.usage.output_tokens, cost_usd=self.cost_usd)


@dataclass(frozen=True, slots=True)
class ChatSession:
    """Who chats in which conversation: fixed for a connection, checked again on every message."""

    tenant_id: int
    tenant_slug: str
    user_id: int
    conversation_id: int
    role: str
    overrides: Overrides | None = None
    # A widget visitor's (``widget``): the SQL that reads their rights instead of a membership's
    # (``tenants.selectors.chat_access_sql``'s columns and parameters), and their limits.
    access_sql: str | None = None
    visitor: VisitorLimits | None = None

    @property
    def site_id(self) -> int | None:
        """The widget site a visitor chats on (the conversation's channel); None: the chat page."""
        return self.visitor.site_id if self.visitor is not None else None

    def config(self) -> ChatConfig:
        """The tenant's config with the conversation's experiment variant over it."""
        config = chat_config_get(tenant_id=self.tenant_id)
        return self.overrides.apply(config) if self.overrides is not None else config


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """A message in a conversation an agent holds: stored for the agent, the bot stays silent
    (no upstream call, nothing spent)."""

    conversation_id: int
    message_id: int
    content: str


class RightsRevoked(Exception):
    """The membership, the role, the user or the tenant changed since the connection opened."""


class TurnRefused(Exception):
    """A message that gets an ``error`` frame instead of an answer; nothing was consumed."""

    def __init__(
        self, code: ErrorCode, message: str, *, retry_after: float | None = None, limit: str | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after, self.limit = code, message, retry_after, limit


class TurnSink(Protocol):
    """Where a turn's frames go: a WebSocket (``ChatConsumer``), later an HTTP stream."""

    async def emit(self, frame: Frame) -> None: ...


# -- the codec --------------------------------------------------------------------------------

_SCALARS = (
    "tenant_id", "tenant_slug", "user_id", "conversation_id", "user_message_id", "answer_message_id",
    "content", "route", "fallback_from", "summary_message_count", "context_overflow", "variant_id",
    "message_count",
)  # fmt: skip


def turn_dump(turn: PreparedTurn) -> dict[str, Any]:
    price = turn.price
    return {
        **{f: getattr(turn, f) for f in _SCALARS},
        "client_id": str(turn.client_id),
        "sources": list(turn.sources),
        "tool_rounds": turn.tool_rounds,
        "files": list(turn.files),
        "user_budget": turn.user_budget,
        "curated_answer_id": turn.curated_answer_id,
        "replaces": turn.replaces,
        "request": asdict(replace(turn.request, messages=[])),
        "price": [
            str(price.input_per_mtok),
            str(price.output_per_mtok),
            None if price.cached_input_per_mtok is None else str(price.cached_input_per_mtok),
            price.context_tokens,
            price.by_default,
        ],
    }


def turn_load(data: dict[str, Any]) -> PreparedTurn:
    # A record written before prices carried ``by_default`` (a rolling upgrade) has four fields.
    inp, out, cached, context, *by_default = data["price"]
    return PreparedTurn(
        **{f: data[f] for f in _SCALARS},
        client_id=uuid.UUID(data["client_id"]),
        sources=tuple(data.get("sources", ())),  # a record from before sources has none
        tool_rounds=data.get("tool_rounds", 0),
        files=tuple(data.get("files", ())),
        user_budget=data.get("user_budget"),
        curated_answer_id=data.get("curated_answer_id"),
        replaces=data.get("replaces"),
        request=ChatRequest(**{**data["request"], "tools": tuple(data["request"].get("tools", ()))}),
        price=Price(
            Decimal(inp), Decimal(out), None if cached is None else Decimal(cached), context, any(by_default)
        ),
    )


def outcome_dump(outcome: Outcome) -> dict[str, Any]:
    return {**asdict(outcome), "cost_usd": str(outcome.cost_usd)}


def outcome_load(data: dict[str, Any]) -> Outcome:
    return Outcome(
        **{
            **data,
            "usage": Usage(**data["usage"]),
            "cost_usd": Decimal(data["cost_usd"]),
            "tool_calls": tuple(data.get("tool_calls", ())),
        }
    )
