"""The exact response cache: an answer is reused for the same question asked in the same
situation. The key covers everything the answer depends on: the tenant, the model, the whole
context sent (the effective system prompt, the history) with the tenant's config version, and
the question, normalized (case, spacing). Keys are ``t:{tenant_id}:cache:exact:{sha256}``.

Redis is shared by all instances; the embedded default keeps a bounded in-process LRU. A cache
that cannot be reached is a miss (logged), never a failed message.
"""

import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import structlog
from django.conf import settings
from redis.exceptions import RedisError

from chat.gateway.llm import ChatRequest
from infra.hot_redis import lean_redis

log = structlog.stdlib.get_logger(__name__)


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
    return f"t:{tenant_id}:cache:exact:{hashlib.sha256(material.encode()).hexdigest()}"


class ResponseCache(Protocol):
    async def get(self, key: str) -> CachedAnswer | None: ...

    async def put(self, key: str, answer: CachedAnswer, *, ttl_s: int) -> None: ...


def _encode(answer: CachedAnswer) -> str:
    return json.dumps({"text": answer.text, "model": answer.model})


def _decode(raw: str | bytes) -> CachedAnswer:
    data = json.loads(raw)
    return CachedAnswer(text=data["text"], model=data["model"])


class RedisResponseCache:
    async def get(self, key: str) -> CachedAnswer | None:
        try:
            (raw,) = await lean_redis().execute(("GET", key))
        except (RedisError, OSError) as exc:
            log.warning("cache.unavailable", error=str(exc))
            return None
        return None if raw is None else _decode(raw)

    async def put(self, key: str, answer: CachedAnswer, *, ttl_s: int) -> None:
        try:
            await lean_redis().execute(("SET", key, _encode(answer), "EX", ttl_s))
        except (RedisError, OSError) as exc:
            log.warning("cache.unavailable", error=str(exc))


class MemoryResponseCache:
    """In-process, for the embedded default: least recently used entries go first."""

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._max_entries = max_entries

    async def get(self, key: str) -> CachedAnswer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, raw = entry
        if expires_at <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return _decode(raw)

    async def put(self, key: str, answer: CachedAnswer, *, ttl_s: int) -> None:
        self._entries[key] = (time.monotonic() + ttl_s, _encode(answer))
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


_memory_cache = MemoryResponseCache(max_entries=10_000)


def get_response_cache() -> ResponseCache:
    return RedisResponseCache() if settings.REDIS_URL else _memory_cache
