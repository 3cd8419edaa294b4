"""The server frames a turn emits (protocol v1, ``docs/protocol.md``)."""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from chat.gateway.llm import Usage

TYPING_ON: dict[str, Any] = {"type": "typing", "active": True}
TYPING_OFF: dict[str, Any] = {"type": "typing", "active": False}


def done_frame(
    *,
    message_id: int,
    finish_reason: str,
    model: str,
    usage: Usage,
    cost_usd: Decimal,
    sources: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    frame = {
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
) -> dict[str, Any]:
    """A whole answer at once: a cache hit (the tenant's curated answer, or a cached one), or a
    stored answer replayed for its client_id."""
    frame: dict[str, Any] = {
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
