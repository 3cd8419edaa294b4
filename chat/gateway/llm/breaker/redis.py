"""Breaker state in Redis, one atomic script per decision, shared by every instance (production)."""

import structlog
from redis.exceptions import RedisError

from chat.gateway.llm.breaker.base import BreakerSettings, Pass
from infra.hot_redis import lean_redis
from infra.lean_redis import Script

log = structlog.stdlib.get_logger(__name__)


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
