"""The limit store on Redis: a message costs two scripts (admit, finish), each one round trip and
atomic across all instances. Time is Redis's own clock (``TIME``), so instances never disagree."""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from billing.limits.base import (
    Admission,
    BudgetClaim,
    BudgetKeys,
    LimitStoreUnavailable,
    RateLimit,
    StreamLease,
)
from chatplatform.hot_redis import LUA_NOW_MS

T = TypeVar("T")


# KEYS: n rate keys, the lease set, then (with a claim) the budget's counters, expiries, amounts.
# ARGV: n, (limit, period_ms) * n, max_streams, lease_id, lease_ttl_ms, then (with a claim)
# tokens, budget, reservation_ttl_ms.
# Returns {1, used, reserved}; {0, i, retry_ms} (refused by rate limit i, or i = n+1: streams);
# {0, n+2, used, reserved} (budget); {-1} (budget not seeded).
_ADMIT = (
    LUA_NOW_MS
    + """
local n = tonumber(ARGV[1])
local new_tats = {}
for i = 1, n do
  local limit = tonumber(ARGV[2 * i])
  local interval = math.ceil(tonumber(ARGV[2 * i + 1]) / limit)
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  if new_tat - now > interval * limit then
    return {0, i, new_tat - now - interval * limit}
  end
  new_tats[i] = new_tat
end
local leases = KEYS[n + 1]
local lease_id = ARGV[2 * n + 3]
local ttl = tonumber(ARGV[2 * n + 4])
redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
if redis.call('ZCARD', leases) >= tonumber(ARGV[2 * n + 2]) then
  local first = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
  return {0, n + 1, tonumber(first[2]) - now}
end
local used, reserved = 0, 0
local claim = ARGV[2 * n + 5] ~= nil
if claim then
  local counters, expiries, amounts = KEYS[n + 2], KEYS[n + 3], KEYS[n + 4]
  if redis.call('EXISTS', counters) == 0 then return {-1} end
  local lapsed = redis.call('ZRANGEBYSCORE', expiries, '-inf', now)
  for _, id in ipairs(lapsed) do
    redis.call('HINCRBY', counters, 'reserved', -tonumber(redis.call('HGET', amounts, id) or 0))
    redis.call('HDEL', amounts, id)
  end
  if #lapsed > 0 then redis.call('ZREMRANGEBYSCORE', expiries, '-inf', now) end
  used = tonumber(redis.call('HGET', counters, 'used') or 0)
  reserved = tonumber(redis.call('HGET', counters, 'reserved') or 0)
  local tokens = tonumber(ARGV[2 * n + 5])
  if used + reserved + tokens > tonumber(ARGV[2 * n + 6]) then return {0, n + 2, used, reserved} end
  redis.call('HINCRBY', counters, 'reserved', tokens)
  redis.call('ZADD', expiries, now + tonumber(ARGV[2 * n + 7]), lease_id)
  redis.call('HSET', amounts, lease_id, tokens)
  local keep = redis.call('TTL', counters)
  if keep > 0 then
    redis.call('EXPIRE', expiries, keep)
    redis.call('EXPIRE', amounts, keep)
  end
  reserved = reserved + tokens
end
for i = 1, n do
  redis.call('SET', KEYS[i], new_tats[i], 'PX', new_tats[i] - now)
end
redis.call('ZADD', leases, now + ttl, lease_id)
redis.call('PEXPIRE', leases, ttl)
return {1, used, reserved}
"""
)

_RENEW = (
    LUA_NOW_MS
    + """
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 1
"""
)

# KEYS: the lease set, then (with a budget) counters, expiries, amounts. ARGV: lease_id, tokens.
# Lost counters are not recreated: the ledger has this usage and the next seed counts it.
_FINISH = """
redis.call('ZREM', KEYS[1], ARGV[1])
if KEYS[2] == nil or redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local held = redis.call('HGET', KEYS[4], ARGV[1])
if held then
  redis.call('HINCRBY', KEYS[2], 'reserved', -tonumber(held))
  redis.call('HDEL', KEYS[4], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
redis.call('HINCRBY', KEYS[2], 'used', tonumber(ARGV[2]))
return 1
"""

# KEYS: lease sets. ARGV: lease_id, ttl_ms, then each set's most slots. Returns 0 (taken, in
# every set) or the 1-based index of the first full set (nothing taken).
_HOLD = (
    LUA_NOW_MS
    + """
local ttl = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[1])
  redis.call('PEXPIRE', key, ttl)
end
return 0
"""
)

# KEYS: counters. ARGV: used, ttl_s.
_SEED = """
if redis.call('HSETNX', KEYS[1], 'used', ARGV[1]) == 1 then
  redis.call('HSETNX', KEYS[1], 'reserved', 0)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 1
"""


def _budget_keys(keys: BudgetKeys) -> list[str]:
    return [keys.counters, keys.expiries, keys.amounts]


class RedisLimitStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._admit = client.register_script(_ADMIT)
        self._renew = client.register_script(_RENEW)
        self._finish = client.register_script(_FINISH)
        self._seed = client.register_script(_SEED)
        self._hold = client.register_script(_HOLD)
        self._client = client

    async def admit(
        self, *, limits: list[RateLimit], lease: StreamLease, claim: BudgetClaim | None
    ) -> Admission:
        keys = [limit.key for limit in limits] + [lease.key]
        args: list[Any] = [len(limits)]
        for limit in limits:
            args += [limit.limit, limit.period_s * 1000]
        args += [lease.max_streams, lease.lease_id, round(lease.ttl_s * 1000)]
        if claim is not None:
            keys += _budget_keys(claim.keys)
            args += [claim.tokens, claim.budget, round(claim.ttl_s * 1000)]
        result = await _call(lambda: self._admit(keys=keys, args=args))
        if result[0] == -1:
            return Admission(admitted=False, needs_seed=True)
        if result[0] == 1:
            return Admission(admitted=True, used=int(result[1]), reserved=int(result[2]))
        index = int(result[1])
        if index == len(limits) + 2:
            return Admission(
                admitted=False, refused_by="budget", used=int(result[2]), reserved=int(result[3])
            )
        refused_by = "streams" if index == len(limits) + 1 else limits[index - 1].name
        return Admission(admitted=False, refused_by=refused_by, retry_after=max(0, int(result[2])) / 1000)

    async def renew(self, *, lease: StreamLease) -> None:
        ttl_ms = round(lease.ttl_s * 1000)
        await _call(lambda: self._renew(keys=[lease.key], args=[lease.lease_id, ttl_ms]))

    async def finish(self, *, lease: StreamLease, budget: BudgetKeys | None, tokens: int) -> None:
        keys = [lease.key] + (_budget_keys(budget) if budget is not None else [])
        await _call(lambda: self._finish(keys=keys, args=[lease.lease_id, tokens]))

    async def seed(self, *, keys: BudgetKeys, used: int, ttl_s: float) -> None:
        await _call(lambda: self._seed(keys=[keys.counters], args=[used, round(ttl_s)]))

    async def hold(self, *, leases: list[StreamLease]) -> int | None:
        if not leases:
            return None
        ttl_ms = round(leases[0].ttl_s * 1000)
        args: list[Any] = [leases[0].lease_id, ttl_ms, *(lease.max_streams for lease in leases)]
        full = int(await _call(lambda: self._hold(keys=[lease.key for lease in leases], args=args)))
        return full - 1 if full else None

    async def release(self, *, leases: list[StreamLease]) -> None:
        async def zrem() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for lease in leases:
                    pipe.zrem(lease.key, lease.lease_id)
                await pipe.execute()

        if leases:
            await _call(zrem)


async def _call(command: Callable[[], Awaitable[T]]) -> T:
    try:
        return await command()
    except (RedisError, OSError) as exc:
        raise LimitStoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
