"""Working memory: the last messages of each conversation in Redis, read on every message.

Key ``t:{tenant_id}:conv:{conversation_id}:recent``: a list of JSON items (id, role, content),
oldest first, at most ``CHAT_HISTORY_MESSAGES`` (20), expiring ``CHAT_MEMORY_TTL_S`` (2 h) after
its last use. PostgreSQL is the source of truth: a missing list (expired, a flush, a Redis
restart) is refilled from it, and a turn is appended only to a list that exists, so the memory
is either complete or absent, never a partial history. Redis errors count as a miss.
Without Redis (the embedded default) the same interface keeps the lists in this process.
"""

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import structlog
from django.conf import settings
from redis.exceptions import RedisError

from infra.hot_redis import lean_redis
from infra.lean_redis import Command, Script

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Remembered:
    id: int
    role: str
    content: str


def _key(tenant_id: int, conversation_id: int) -> str:
    return f"t:{tenant_id}:conv:{conversation_id}:recent"


class WorkingMemory(Protocol):
    async def recent(self, *, tenant_id: int, conversation_id: int) -> list[Remembered] | None: ...

    async def refill(self, *, tenant_id: int, conversation_id: int, items: list[Remembered]) -> None: ...

    async def append(
        self, *, tenant_id: int, conversation_id: int, items: list[Remembered], first: bool = False
    ) -> None:
        """Add ``items`` to a list that exists (else the next read refills it whole from
        PostgreSQL). ``first``: they are the conversation's first messages, so they are its
        whole list: it is made when absent (a new conversation needs no refill)."""
        ...


def _encode(item: Remembered) -> str:
    return json.dumps([item.id, item.role, item.content], ensure_ascii=False)


def _decode(raw: bytes | str) -> Remembered:
    item_id, role, content = json.loads(raw)
    return Remembered(id=item_id, role=role, content=content)


# ARGV: most kept, ttl_s, first (1/0), then the items.
_APPEND = Script("""
if ARGV[3] == '0' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 4, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
""")


class RedisWorkingMemory:
    async def recent(self, *, tenant_id: int, conversation_id: int) -> list[Remembered] | None:
        key = _key(tenant_id, conversation_id)
        try:
            raw, exists = await lean_redis().execute(
                ("LRANGE", key, 0, -1), ("EXPIRE", key, int(settings.CHAT_MEMORY_TTL_S))
            )
        except (RedisError, OSError) as exc:
            log.warning("memory.unavailable", error=str(exc))
            return None
        return [_decode(r) for r in raw] if exists else None

    async def refill(self, *, tenant_id: int, conversation_id: int, items: list[Remembered]) -> None:
        key = _key(tenant_id, conversation_id)
        try:
            commands: list[Command] = [("MULTI",), ("DEL", key)]
            if items:  # Redis has no empty list: a conversation with no message stays absent
                kept = items[-settings.CHAT_HISTORY_MESSAGES :]
                commands.append(("RPUSH", key, *(_encode(i) for i in kept)))
                commands.append(("EXPIRE", key, int(settings.CHAT_MEMORY_TTL_S)))
            await lean_redis().execute(*commands, ("EXEC",))
        except (RedisError, OSError) as exc:
            log.warning("memory.unavailable", error=str(exc))

    async def append(
        self, *, tenant_id: int, conversation_id: int, items: list[Remembered], first: bool = False
    ) -> None:
        try:
            await lean_redis().eval(
                _APPEND,
                [_key(tenant_id, conversation_id)],
                [
                    settings.CHAT_HISTORY_MESSAGES,
                    int(settings.CHAT_MEMORY_TTL_S),
                    int(first),
                    *(_encode(i) for i in items),
                ],
            )
        except (RedisError, OSError) as exc:
            log.warning("memory.unavailable", error=str(exc))


class LocalWorkingMemory:
    """In this process, for the embedded default; the least recently used lists go first."""

    def __init__(self, max_conversations: int = 10_000) -> None:
        self._lists: OrderedDict[str, tuple[float, list[Remembered]]] = OrderedDict()
        self._max = max_conversations

    async def recent(self, *, tenant_id: int, conversation_id: int) -> list[Remembered] | None:
        key = _key(tenant_id, conversation_id)
        entry = self._lists.get(key)
        if entry is None or entry[0] < time.monotonic():
            self._lists.pop(key, None)
            return None
        self._lists[key] = (time.monotonic() + settings.CHAT_MEMORY_TTL_S, entry[1])
        self._lists.move_to_end(key)
        return list(entry[1])

    async def refill(self, *, tenant_id: int, conversation_id: int, items: list[Remembered]) -> None:
        key = _key(tenant_id, conversation_id)
        if not items:
            self._lists.pop(key, None)
            return
        self._put(key, items)

    async def append(
        self, *, tenant_id: int, conversation_id: int, items: list[Remembered], first: bool = False
    ) -> None:
        key = _key(tenant_id, conversation_id)
        entry = self._lists.get(key)
        if entry is not None or first:
            self._put(key, (entry[1] if entry is not None else []) + items)

    def _put(self, key: str, items: list[Remembered]) -> None:
        self._lists[key] = (
            time.monotonic() + settings.CHAT_MEMORY_TTL_S,
            items[-settings.CHAT_HISTORY_MESSAGES :],
        )
        self._lists.move_to_end(key)
        while len(self._lists) > self._max:
            self._lists.popitem(last=False)


_local = LocalWorkingMemory()


def working_memory() -> WorkingMemory:
    return RedisWorkingMemory() if settings.REDIS_URL else _local
