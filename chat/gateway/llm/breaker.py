"""Circuit breaker per provider and model, shared by every instance (Redis; in-process for the
embedded default).

Closed: requests go through; each answer reports success or failure. It opens after
``BREAKER_CONSECUTIVE_FAILURES`` failures in a row, or when at least ``BREAKER_MIN_REQUESTS``
answers in the current window (``BREAKER_WINDOW_S``) failed at ``BREAKER_ERROR_RATE`` or more.
Open: for ``BREAKER_COOLDOWN_S`` requests go to the tenant's fallback model (or fail fast).
Half-open: after the cool-down one request at a time is let through as a probe; its success
closes the breaker, its failure opens it again. Keys: ``global:breaker:{provider:model}:*``
(one hash tag, so a Redis Cluster keeps them on one node).
"""

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import structlog
from django.conf import settings
from redis.exceptions import RedisError

from infra.hot_redis import lean_redis
from infra.lean_redis import Script

log = structlog.stdlib.get_logger(__name__)


class Pass(StrEnum):
    CLOSED = "closed"  # go ahead
    PROBE = "probe"  # go ahead: this request decides whether the breaker closes
    OPEN = "open"  # do not call this model now


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    consecutive_failures: int
    error_rate: float
    min_requests: int
    window_s: float
    cooldown_s: float
    probe_timeout_s: float

    @classmethod
    def from_settings(cls) -> "BreakerSettings":
        return cls(
            consecutive_failures=settings.BREAKER_CONSECUTIVE_FAILURES,
            error_rate=settings.BREAKER_ERROR_RATE,
            min_requests=settings.BREAKER_MIN_REQUESTS,
            window_s=settings.BREAKER_WINDOW_S,
            cooldown_s=settings.BREAKER_COOLDOWN_S,
            probe_timeout_s=settings.BREAKER_PROBE_TIMEOUT_S,
        )


class BreakerStore(Protocol):
    async def acquire(self, scope: str, rules: BreakerSettings) -> Pass: ...

    async def report(self, scope: str, rules: BreakerSettings, *, ok: bool | None, probe: bool) -> Pass:
        """``ok=None``: no verdict (a cancelled answer); a probe is released without one."""
        ...


_ACQUIRE = Script("""
if redis.call('EXISTS', KEYS[1]) == 1 then return 'open' end
if redis.call('EXISTS', KEYS[2]) == 0 then return 'closed' end
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[1]) then return 'probe' end
return 'open'
""")

# KEYS: open, tripped, probe, consecutive, total, failed.
# ARGV: verdict (1 ok, 0 failed, -1 none), probe (1/0), cooldown_ms, window_ms,
#       consecutive failures, min requests, error rate.
_REPORT = Script("""
local verdict, probe = tonumber(ARGV[1]), ARGV[2] == '1'
local function trip()
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[3])
  redis.call('SET', KEYS[2], '1', 'PX', 86400000)
  redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6])
  return 'open'
end
if probe then
  redis.call('DEL', KEYS[3])
  if verdict == 1 then redis.call('DEL', KEYS[2], KEYS[4], KEYS[5], KEYS[6]) return 'closed' end
  if verdict == 0 then return trip() end
end
if verdict == -1 then
  return redis.call('EXISTS', KEYS[1]) == 1 and 'open' or 'closed'
end
local total = redis.call('INCR', KEYS[5])
if total == 1 then redis.call('PEXPIRE', KEYS[5], ARGV[4]) end
if verdict == 1 then
  redis.call('DEL', KEYS[4])
  return redis.call('EXISTS', KEYS[1]) == 1 and 'open' or 'closed'
end
local failed = redis.call('INCR', KEYS[6])
if failed == 1 then redis.call('PEXPIRE', KEYS[6], ARGV[4]) end
local consecutive = redis.call('INCR', KEYS[4])
redis.call('PEXPIRE', KEYS[4], ARGV[4])
if redis.call('EXISTS', KEYS[1]) == 1 then return 'open' end
if consecutive >= tonumber(ARGV[5])
   or (total >= tonumber(ARGV[6]) and failed / total >= tonumber(ARGV[7])) then
  return trip()
end
return 'closed'
""")

_KEY_PARTS = ("open", "tripped", "probe", "consecutive", "total", "failed")


def _keys(scope: str) -> list[str]:
    return [f"global:breaker:{{{scope}}}:{part}" for part in _KEY_PARTS]


class RedisBreakerStore:
    """A breaker that cannot reach Redis lets requests through: the LLM may well be fine."""

    async def acquire(self, scope: str, rules: BreakerSettings) -> Pass:
        try:
            result = await lean_redis().eval(_ACQUIRE, _keys(scope)[:3], [int(rules.probe_timeout_s * 1000)])
        except (RedisError, OSError) as exc:
            log.warning("breaker.unavailable", error=str(exc))
            return Pass.CLOSED
        return Pass(result.decode() if isinstance(result, bytes) else result)

    async def report(self, scope: str, rules: BreakerSettings, *, ok: bool | None, probe: bool) -> Pass:
        verdict = -1 if ok is None else int(ok)
        try:
            result = await lean_redis().eval(
                _REPORT,
                _keys(scope),
                [
                    verdict,
                    int(probe),
                    int(rules.cooldown_s * 1000),
                    int(rules.window_s * 1000),
                    rules.consecutive_failures,
                    rules.min_requests,
                    rules.error_rate,
                ],
            )
        except (RedisError, OSError) as exc:
            log.warning("breaker.unavailable", error=str(exc))
            return Pass.CLOSED
        return Pass(result.decode() if isinstance(result, bytes) else result)


@dataclass
class _State:
    open_until: float = 0.0
    tripped: bool = False
    probe_until: float = 0.0
    consecutive: int = 0
    window_start: float = 0.0
    total: int = 0
    failed: int = 0


@dataclass
class MemoryBreakerStore:
    """The same state machine in this process, for the embedded default."""

    states: dict[str, _State] = field(default_factory=dict)

    async def acquire(self, scope: str, rules: BreakerSettings) -> Pass:
        state, now = self.states.setdefault(scope, _State()), time.monotonic()
        if state.open_until > now:
            return Pass.OPEN
        if not state.tripped:
            return Pass.CLOSED
        if state.probe_until <= now:
            state.probe_until = now + rules.probe_timeout_s
            return Pass.PROBE
        return Pass.OPEN

    async def report(self, scope: str, rules: BreakerSettings, *, ok: bool | None, probe: bool) -> Pass:
        state, now = self.states.setdefault(scope, _State()), time.monotonic()

        def trip() -> Pass:
            self.states[scope] = _State(open_until=now + rules.cooldown_s, tripped=True)
            return Pass.OPEN

        if probe:
            state.probe_until = 0.0
            if ok is True:
                self.states[scope] = _State()
                return Pass.CLOSED
            if ok is False:
                return trip()
        current = Pass.OPEN if state.open_until > now else Pass.CLOSED
        if ok is None:
            return current
        if now - state.window_start >= rules.window_s:
            state.window_start, state.total, state.failed = now, 0, 0
        state.total += 1
        if ok:
            state.consecutive = 0
            return current
        state.failed += 1
        state.consecutive += 1
        if current is Pass.OPEN:
            return current
        if state.consecutive >= rules.consecutive_failures or (
            state.total >= rules.min_requests and state.failed / state.total >= rules.error_rate
        ):
            return trip()
        return Pass.CLOSED


_memory_store = MemoryBreakerStore()


def get_breaker_store() -> BreakerStore:
    return RedisBreakerStore() if settings.REDIS_URL else _memory_store
