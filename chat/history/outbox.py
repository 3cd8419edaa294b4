"""Finished turns the database could not take, kept until it can.

When PostgreSQL cannot be reached as an answer ends (a restart, a failover), the recorder puts the
turn here instead of failing it: the client still gets ``done``, and the turn (question, answer,
usage) is written once the database is back. With Redis, each tenant's turns wait in a Stream of
its own (``t:{tenant}:outbox``) and ``global:outbox`` names the tenants that have some, so any
instance can write them, a restarted one included; without Redis (the embedded default) they
wait in the process.

Exactly once: an instance replays a tenant's turns under a short lock, in one transaction that
skips every turn whose answer is already stored (a commit whose acknowledgement was lost), and
deletes them from the stream only after that commit. A turn that can never be written (bad data,
not an outage) is moved aside to ``t:{tenant}:outbox:dead`` and logged, so it cannot hold up the
turns behind it.
"""

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

import redis.asyncio as aioredis
from django.conf import settings

from chat.turn import Outcome, PreparedTurn, outcome_dump, outcome_load, turn_dump, turn_load
from infra import aio
from infra.hot_redis import hot_redis

TENANTS = "global:outbox"

Turn = tuple[PreparedTurn, Outcome]
Entry = tuple[str, Turn]  # the entry's id in the outbox, the turn


def encode(turn: PreparedTurn, outcome: Outcome) -> str:
    return json.dumps({"turn": turn_dump(turn), "outcome": outcome_dump(outcome)}, ensure_ascii=False)


def decode(raw: str | bytes) -> Turn:
    data = json.loads(raw)
    return turn_load(data["turn"]), outcome_load(data["outcome"])


class Outbox(Protocol):
    async def put(self, turns: Sequence[Turn]) -> None: ...

    async def tenants(self) -> list[int]: ...

    async def lock(self, tenant_id: int) -> str | None:
        """A lock on the tenant's outbox for ``OUTBOX_LOCK_S``, or None if another holds it."""

    async def unlock(self, tenant_id: int, token: str) -> None: ...

    async def read(self, tenant_id: int, count: int) -> list[Entry]: ...

    async def remove(self, tenant_id: int, entry_ids: Sequence[str], *, dead: Sequence[Entry] = ()) -> None:
        """Drop written entries, and move ``dead`` ones aside; forget the tenant once it has none."""

    async def pending(self) -> int: ...

    async def holds(self, tenant_id: int, message_id: int) -> bool:
        """Whether the turn answered by ``message_id`` waits here (read in full: a rare question,
        asked only of a generation whose process died)."""


class RedisOutbox:
    # Forget a tenant only when its stream is empty: a turn put meanwhile keeps it named.
    _FORGET = "if redis.call('XLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end"
    _UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end"

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    @staticmethod
    def _key(tenant_id: int) -> str:
        return f"t:{tenant_id}:outbox"

    async def put(self, turns: Sequence[Turn]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for turn, outcome in turns:
                pipe.xadd(self._key(turn.tenant_id), {"turn": encode(turn, outcome)})
                pipe.sadd(TENANTS, turn.tenant_id)
            await pipe.execute()

    async def tenants(self) -> list[int]:
        return [int(member) for member in await self._redis.smembers(TENANTS)]

    async def lock(self, tenant_id: int) -> str | None:
        token = uuid.uuid4().hex
        taken = await self._redis.set(
            f"{self._key(tenant_id)}:lock", token, nx=True, px=int(settings.OUTBOX_LOCK_S * 1000)
        )
        return token if taken else None

    async def unlock(self, tenant_id: int, token: str) -> None:
        await self._redis.eval(self._UNLOCK, 1, f"{self._key(tenant_id)}:lock", token)

    async def read(self, tenant_id: int, count: int) -> list[Entry]:
        entries: Any = await self._redis.xrange(self._key(tenant_id), count=count)
        return [(entry_id.decode(), decode(fields[b"turn"])) for entry_id, fields in entries]

    async def remove(self, tenant_id: int, entry_ids: Sequence[str], *, dead: Sequence[Entry] = ()) -> None:
        key = self._key(tenant_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            for _, (turn, outcome) in dead:
                pipe.xadd(f"{key}:dead", {"turn": encode(turn, outcome)})
            gone = [*entry_ids, *(entry_id for entry_id, _ in dead)]
            if gone:
                pipe.xdel(key, *gone)
            pipe.eval(self._FORGET, 2, key, TENANTS, tenant_id)
            await pipe.execute()

    async def pending(self) -> int:
        tenant_ids = await self.tenants()
        if not tenant_ids:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for tenant_id in tenant_ids:
                pipe.xlen(self._key(tenant_id))
            return sum(await pipe.execute())

    async def holds(self, tenant_id: int, message_id: int) -> bool:
        after = "-"
        while True:
            entries: Any = await self._redis.xrange(self._key(tenant_id), min=after, count=500)
            if not entries:
                return False
            if any(decode(fields[b"turn"])[0].answer_message_id == message_id for _, fields in entries):
                return True
            after = "(" + entries[-1][0].decode()


class MemoryOutbox:
    """The embedded default's: one process, so a lock is a set and entries a list per tenant."""

    def __init__(self) -> None:
        self._entries: dict[int, list[Entry]] = defaultdict(list)
        self._locked: set[int] = set()
        self._next_id = 0
        self.dead: list[Entry] = []

    async def put(self, turns: Sequence[Turn]) -> None:
        for turn, outcome in turns:
            self._next_id += 1
            self._entries[turn.tenant_id].append((str(self._next_id), (turn, outcome)))

    async def tenants(self) -> list[int]:
        return [tenant_id for tenant_id, entries in self._entries.items() if entries]

    async def lock(self, tenant_id: int) -> str | None:
        if tenant_id in self._locked:
            return None
        self._locked.add(tenant_id)
        return str(tenant_id)

    async def unlock(self, tenant_id: int, token: str) -> None:
        self._locked.discard(tenant_id)

    async def read(self, tenant_id: int, count: int) -> list[Entry]:
        return self._entries[tenant_id][:count]

    async def remove(self, tenant_id: int, entry_ids: Sequence[str], *, dead: Sequence[Entry] = ()) -> None:
        gone = set(entry_ids) | {entry_id for entry_id, _ in dead}
        self._entries[tenant_id] = [e for e in self._entries[tenant_id] if e[0] not in gone]
        self.dead.extend(dead)

    async def pending(self) -> int:
        return sum(len(entries) for entries in self._entries.values())

    async def holds(self, tenant_id: int, message_id: int) -> bool:
        return any(turn.answer_message_id == message_id for _, (turn, _) in self._entries[tenant_id])


_memory_outbox = aio.per_loop(MemoryOutbox)


def outbox() -> Outbox:
    """The outbox this deployment uses (Redis's is shared by every instance)."""
    if settings.REDIS_URL:
        return RedisOutbox(hot_redis())
    return _memory_outbox()
