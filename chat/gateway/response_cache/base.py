"""The exact response cache's interface, its key and its entries' encoding."""

import hashlib
import json
from dataclasses import dataclass
from typing import Protocol

from chat.gateway.llm import ChatRequest
from infra.keys import tenant_prefix


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    text: str
    model: str


def normalize(text: str) -> str:
    return " ".join(text.casefold().split())


def exact_key(*, tenant_id: int, config_version: int, request: ChatRequest) -> str:
    *context, question = request.messages
    material = json.dumps(
        [request.model, config_version, context, normalize(question["content"])],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return f"{tenant_prefix(tenant_id)}:cache:exact:{hashlib.sha256(material.encode()).hexdigest()}"


class ResponseCache(Protocol):
    async def get(self, key: str) -> CachedAnswer | None: ...

    async def put(self, key: str, answer: CachedAnswer, *, ttl_s: int) -> None: ...


def encode_answer(answer: CachedAnswer) -> str:
    return json.dumps({"text": answer.text, "model": answer.model})


def decode_answer(raw: str | bytes) -> CachedAnswer:
    data = json.loads(raw)
    return CachedAnswer(text=data["text"], model=data["model"])
