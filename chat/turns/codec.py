"""A turn and its outcome as JSON, for what must outlive the process that prepared them: the
generation store's record (``reaper``) and the outbox of turns the database could not take
(``chat.history.outbox``). The prompt is left out: only the turn's own messages are stored."""

import uuid
from dataclasses import asdict, replace
from decimal import Decimal
from typing import Any

from billing.pricing import Price
from chat.gateway.llm import ChatRequest, Usage
from chat.turns.stream import Outcome, PreparedTurn

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
