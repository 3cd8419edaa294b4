"""The outbox in Redis Streams, one per tenant, replayed by any instance (production)."""

import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings

from chat.history.outbox.base import Entry, Turn, decode, encode

TENANTS = "global:outbox"


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
