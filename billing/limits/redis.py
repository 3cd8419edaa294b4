"""The limit store on Redis: a message costs two scripts (admit, finish), each one round trip and
atomic across all instances. Time is Redis's own clock (``TIME``), so instances never disagree."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.exceptions import RedisError

from billing.limits.base import (
    Admission,
    BudgetClaim,
    BudgetKeys,
    LimitStoreUnavailable,
    RateLimit,
    StreamLease,
)
from infra.hot_redis import LUA_NOW_MS
from infra.lean_redis import LeanClient, Script

T = TypeVar("T")


# KEYS: n rate keys, the lease set, then per budget claim its counters, expiries, amounts.
# ARGV: n, (limit, period_ms) * n, max_streams, lease_id, lease_ttl_ms, m (claims), then per
# claim amount, budget, reservation_ttl_ms.
# Returns {1, used_1, reserved_1, ..., used_m, reserved_m}; {0, i, retry_ms} (refused by rate
# limit i, or i = n+1: streams); {0, n+2, used, reserved, j} (budget j); {-1, j} (budget j not
# seeded).
_ADMIT = Script(
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
local m = tonumber(ARGV[2 * n + 5])
local totals = {1}
for j = 1, m do
  local counters, expiries, amounts = KEYS[n + 3 * j - 1], KEYS[n + 3 * j], KEYS[n + 3 * j + 1]
  if redis.call('EXISTS', counters) == 0 then return {-1, j} end
  local lapsed = redis.call('ZRANGEBYSCORE', expiries, '-inf', now)
  for _, id in ipairs(lapsed) do
    redis.call('HINCRBY', counters, 'reserved', -tonumber(redis.call('HGET', amounts, id) or 0))
    redis.call('HDEL', amounts, id)
  end
  if #lapsed > 0 then redis.call('ZREMRANGEBYSCORE', expiries, '-inf', now) end
  local used = tonumber(redis.call('HGET', counters, 'used') or 0)
  local reserved = tonumber(redis.call('HGET', counters, 'reserved') or 0)
  local amount = tonumber(ARGV[2 * n + 3 + 3 * j])
  if used + reserved + amount > tonumber(ARGV[2 * n + 4 + 3 * j]) then
    return {0, n + 2, used, reserved, j}
  end
  totals[2 * j], totals[2 * j + 1] = used, reserved + amount
end
for j = 1, m do
  local counters, expiries, amounts = KEYS[n + 3 * j - 1], KEYS[n + 3 * j], KEYS[n + 3 * j + 1]
  local amount = tonumber(ARGV[2 * n + 3 + 3 * j])
  redis.call('HINCRBY', counters, 'reserved', amount)
  redis.call('ZADD', expiries, now + tonumber(ARGV[2 * n + 5 + 3 * j]), lease_id)
  redis.call('HSET', amounts, lease_id, amount)
  local keep = redis.call('TTL', counters)
  if keep > 0 then
    redis.call('EXPIRE', expiries, keep)
    redis.call('EXPIRE', amounts, keep)
  end
end
for i = 1, n do
  redis.call('SET', KEYS[i], new_tats[i], 'PX', new_tats[i] - now)
end
redis.call('ZADD', leases, now + ttl, lease_id)
redis.call('PEXPIRE', leases, ttl)
return totals
"""
)

# KEYS: one rate key. ARGV: limit, period_ms. Returns 0 when taken, else the ms to wait.
_TAKE = Script(
    LUA_NOW_MS
    + """
local limit = tonumber(ARGV[1])
local interval = math.ceil(tonumber(ARGV[2]) / limit)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > interval * limit then return new_tat - now - interval * limit end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return 0
"""
)

# KEYS: one rate key. ARGV: limit, period_ms. The message ``_TAKE`` took, given back.
_GIVE_BACK = Script(
    LUA_NOW_MS
    + """
local interval = math.ceil(tonumber(ARGV[2]) / tonumber(ARGV[1]))
local tat = tonumber(redis.call('GET', KEYS[1]) or now) - interval
if tat > now then redis.call('SET', KEYS[1], tat, 'PX', tat - now) else redis.call('DEL', KEYS[1]) end
return 1
"""
)

_RENEW = Script(
    LUA_NOW_MS
    + """
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 1
"""
)

# KEYS: the lease set, then per budget counters, expiries, amounts. ARGV: lease_id, then per
# budget the amount spent. Lost counters are not recreated: the ledger has this usage and the
# next seed counts it.
_FINISH = Script("""
redis.call('ZREM', KEYS[1], ARGV[1])
for j = 2, #KEYS, 3 do
  if redis.call('EXISTS', KEYS[j]) == 1 then
    local held = redis.call('HGET', KEYS[j + 2], ARGV[1])
    if held then
      redis.call('HINCRBY', KEYS[j], 'reserved', -tonumber(held))
      redis.call('HDEL', KEYS[j + 2], ARGV[1])
      redis.call('ZREM', KEYS[j + 1], ARGV[1])
    end
    redis.call('HINCRBY', KEYS[j], 'used', tonumber(ARGV[(j + 4) / 3]))
  end
end
return 1
""")

# KEYS: lease sets. ARGV: lease_id, ttl_ms, then each set's most slots. Returns 0 (taken, in
# every set) or the 1-based index of the first full set (nothing taken).
_HOLD = Script(
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
_SEED = Script("""
if redis.call('HSETNX', KEYS[1], 'used', ARGV[1]) == 1 then
  redis.call('HSETNX', KEYS[1], 'reserved', 0)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 1
""")


def _budget_keys(keys: BudgetKeys) -> list[str]:
    return [keys.counters, keys.expiries, keys.amounts]


class RedisLimitStore:
    def __init__(self, client: LeanClient) -> None:
        self._client = client

    async def admit(
        self,
        *,
        limits: list[RateLimit],
        lease: StreamLease,
        claims: Sequence[BudgetClaim] = (),
    ) -> Admission:
        keys = [limit.key for limit in limits] + [lease.key]
        args: list[Any] = [len(limits)]
        for limit in limits:
            args += [limit.limit, limit.period_s * 1000]
        args += [lease.max_streams, lease.lease_id, round(lease.ttl_s * 1000)]
        args.append(len(claims))
        for held in claims:
            keys += _budget_keys(held.keys)
            args += [held.amount, held.budget, round(held.ttl_s * 1000)]
        result = await _call(lambda: self._client.eval(_ADMIT, keys, args))
        if result[0] == -1:
            return Admission(admitted=False, needs_seed=True, seed=claims[int(result[1]) - 1].keys)
        if result[0] == 1:
            totals = [int(v) for v in result[1:]]
            return Admission(admitted=True, held=tuple(zip(totals[0::2], totals[1::2], strict=True)))
        index = int(result[1])
        if index == len(limits) + 2:
            return Admission(
                admitted=False,
                refused_by=claims[int(result[4]) - 1].name,
                used=int(result[2]),
                reserved=int(result[3]),
            )
        refused_by = "streams" if index == len(limits) + 1 else limits[index - 1].name
        return Admission(admitted=False, refused_by=refused_by, retry_after=max(0, int(result[2])) / 1000)

    async def take(self, *, limit: RateLimit) -> float | None:
        args = [limit.limit, round(limit.period_s * 1000)]
        wait_ms = await _call(lambda: self._client.eval(_TAKE, [limit.key], args))
        return None if not wait_ms else int(wait_ms) / 1000

    async def give_back(self, *, limit: RateLimit) -> None:
        args = [limit.limit, round(limit.period_s * 1000)]
        await _call(lambda: self._client.eval(_GIVE_BACK, [limit.key], args))

    async def renew(self, *, lease: StreamLease) -> None:
        ttl_ms = round(lease.ttl_s * 1000)
        await _call(lambda: self._client.eval(_RENEW, [lease.key], [lease.lease_id, ttl_ms]))

    async def finish(
        self,
        *,
        lease: StreamLease,
        spent: Sequence[tuple[BudgetKeys, int]] = (),
    ) -> None:
        keys = [lease.key]
        args: list[Any] = [lease.lease_id]
        for budget, amount in spent:
            keys += _budget_keys(budget)
            args.append(amount)
        await _call(lambda: self._client.eval(_FINISH, keys, args))

    async def seed(self, *, keys: BudgetKeys, used: int, ttl_s: float) -> None:
        await _call(lambda: self._client.eval(_SEED, [keys.counters], [used, round(ttl_s)]))

    async def hold(self, *, leases: list[StreamLease]) -> int | None:
        if not leases:
            return None
        ttl_ms = round(leases[0].ttl_s * 1000)
        args: list[Any] = [leases[0].lease_id, ttl_ms, *(lease.max_streams for lease in leases)]
        full = int(await _call(lambda: self._client.eval(_HOLD, [lease.key for lease in leases], args)))
        return full - 1 if full else None

    async def release(self, *, leases: list[StreamLease]) -> None:
        if leases:
            removals = [("ZREM", lease.key, lease.lease_id) for lease in leases]
            await _call(lambda: self._client.execute(*removals))


async def _call(command: Callable[[], Awaitable[T]]) -> T:
    try:
        return await command()
    except (RedisError, OSError) as exc:
        raise LimitStoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
