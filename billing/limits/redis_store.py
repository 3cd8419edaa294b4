"""The limit store on Redis: every decision is one Lua script, so one round trip and atomic
across all instances. Time is Redis's own clock (``TIME``), so instances never disagree."""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from billing.limits.base import (
    Admission,
    BudgetKeys,
    LimitStoreUnavailable,
    RateLimit,
    Reservation,
    StreamLease,
)

T = TypeVar("T")

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS: n rate keys, then the lease set. ARGV: n, (limit, period_ms) * n, max_streams,
# lease_id, lease_ttl_ms. Returns {1} or {0, index of the refusing limit (n+1: streams), retry ms}.
_ADMIT = (
    _NOW_MS
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
local max_streams = tonumber(ARGV[2 * n + 2])
local ttl = tonumber(ARGV[2 * n + 4])
redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
if redis.call('ZCARD', leases) >= max_streams then
  local first = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
  return {0, n + 1, tonumber(first[2]) - now}
end
for i = 1, n do
  redis.call('SET', KEYS[i], new_tats[i], 'PX', new_tats[i] - now)
end
redis.call('ZADD', leases, now + ttl, ARGV[2 * n + 3])
redis.call('PEXPIRE', leases, ttl)
return {1}
"""
)

_RENEW = (
    _NOW_MS
    + """
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 1
"""
)

# KEYS: counters, expiries, amounts. ARGV: id, tokens, budget, ttl_ms.
# Returns {-1} (not seeded), or {granted 0|1, used, reserved}.
_RESERVE = (
    _NOW_MS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(lapsed) do
  redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(redis.call('HGET', KEYS[3], id) or 0))
  redis.call('HDEL', KEYS[3], id)
end
if #lapsed > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or 0)
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or 0)
local tokens = tonumber(ARGV[2])
if used + reserved + tokens > tonumber(ARGV[3]) then return {0, used, reserved} end
redis.call('HINCRBY', KEYS[1], 'reserved', tokens)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], tokens)
local keep = redis.call('TTL', KEYS[1])
if keep > 0 then
  redis.call('EXPIRE', KEYS[2], keep)
  redis.call('EXPIRE', KEYS[3], keep)
end
return {1, used, reserved + tokens}
"""
)

# KEYS: counters, expiries, amounts. ARGV: id, tokens. Counters that were lost are not
# recreated here: the ledger has this usage and the next seed counts it.
_SETTLE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local held = redis.call('HGET', KEYS[3], ARGV[1])
if held then
  redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(held))
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
redis.call('HINCRBY', KEYS[1], 'used', tonumber(ARGV[2]))
return 1
"""

# KEYS: counters. ARGV: used, ttl_s.
_SEED = """
if redis.call('HSETNX', KEYS[1], 'used', ARGV[1]) == 1 then
  redis.call('HSETNX', KEYS[1], 'reserved', 0)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 1
"""


class RedisLimitStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._admit = client.register_script(_ADMIT)
        self._renew = client.register_script(_RENEW)
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._seed = client.register_script(_SEED)

    async def admit(self, *, limits: list[RateLimit], lease: StreamLease) -> Admission:
        args: list[Any] = [len(limits)]
        for limit in limits:
            args += [limit.limit, limit.period_s * 1000]
        args += [lease.max_streams, lease.lease_id, round(lease.ttl_s * 1000)]
        keys = [limit.key for limit in limits] + [lease.key]
        result = await _call(lambda: self._admit(keys=keys, args=args))
        if result[0] == 1:
            return Admission(admitted=True)
        index, retry_ms = int(result[1]), max(0, int(result[2]))
        refused_by = "streams" if index == len(limits) + 1 else limits[index - 1].name
        return Admission(admitted=False, refused_by=refused_by, retry_after=retry_ms / 1000)

    async def renew(self, *, lease: StreamLease) -> None:
        ttl_ms = round(lease.ttl_s * 1000)
        await _call(lambda: self._renew(keys=[lease.key], args=[lease.lease_id, ttl_ms]))

    async def release(self, *, lease: StreamLease) -> None:
        await _call(lambda: self._client.zrem(lease.key, lease.lease_id))

    async def reserve(
        self, *, keys: BudgetKeys, reservation_id: str, tokens: int, budget: int, ttl_s: float
    ) -> Reservation:
        result = await _call(
            lambda: self._reserve(
                keys=[keys.counters, keys.expiries, keys.amounts],
                args=[reservation_id, tokens, budget, round(ttl_s * 1000)],
            )
        )
        if result[0] == -1:
            return Reservation(granted=False, needs_seed=True)
        return Reservation(granted=result[0] == 1, used=int(result[1]), reserved=int(result[2]))

    async def settle(self, *, keys: BudgetKeys, reservation_id: str, tokens: int) -> None:
        await _call(
            lambda: self._settle(
                keys=[keys.counters, keys.expiries, keys.amounts], args=[reservation_id, tokens]
            )
        )

    async def seed(self, *, keys: BudgetKeys, used: int, ttl_s: float) -> None:
        await _call(lambda: self._seed(keys=[keys.counters], args=[used, round(ttl_s)]))


async def _call(command: Callable[[], Awaitable[T]]) -> T:
    try:
        return await command()
    except (RedisError, OSError) as exc:
        raise LimitStoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
