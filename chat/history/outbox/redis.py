"""The outbox in Redis Streams, one per tenant, replayed by any instance (production).

A tenant's stream and the index of tenants with turns waiting (``global:outbox``) are in
different Redis Cluster slots, so no call touches both at once; their order keeps the index
right: a turn is added to its stream before its tenant is named, and a tenant is unnamed
before its stream is found empty (named again if it is not), so a tenant with a turn waiting
is always named, whatever the interleaving."""

import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings

from chat.history.outbox.base import Entry, Turn, decode, encode
from infra.keys import tenant_prefix

TENANTS = "global:outbox"


class RedisOutbox:
    _UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end"

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    @staticmethod
    def _key(tenant_id: int) -> str:
        return f"{tenant_prefix(tenant_id)}:outbox"

    async def put(self, turns: Sequence[Turn]) -> None:
        by_tenant: dict[int, list[str]] = {}
        for turn, outcome in turns:
            by_tenant.setdefault(turn.tenant_id, []).append(encode(turn, outcome))
        for tenant_id, encoded in by_tenant.items():
            async with self._redis.pipeline(transaction=True) as pipe:  # one slot: the tenant's
                for entry in encoded:
                    pipe.xadd(self._key(tenant_id), {"turn": entry})
                await pipe.execute()
        await self._redis.sadd(TENANTS, *by_tenant)

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
            await pipe.execute()
        # Unnamed, then named again if a turn is waiting (put meanwhile, or left).
        await self._redis.srem(TENANTS, tenant_id)
        if await self._redis.xlen(key):
            await self._redis.sadd(TENANTS, tenant_id)

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
