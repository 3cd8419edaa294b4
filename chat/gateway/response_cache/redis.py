"""The exact response cache in Redis, shared by every instance (production)."""

import structlog
from redis.exceptions import RedisError

from chat.gateway.response_cache.base import CachedAnswer, decode_answer, encode_answer
from infra.hot_redis import lean_redis

log = structlog.stdlib.get_logger(__name__)


class RedisResponseCache:
    async def get(self, key: str) -> CachedAnswer | None:
        try:
            (raw,) = await lean_redis().execute(("GET", key))
        except (RedisError, OSError) as exc:
            log.warning("cache.unavailable", error=str(exc))
            return None
        return None if raw is None else decode_answer(raw)

    async def put(self, key: str, answer: CachedAnswer, *, ttl_s: int) -> None:
        try:
            await lean_redis().execute(("SET", key, encode_answer(answer), "EX", ttl_s))
        except (RedisError, OSError) as exc:
            log.warning("cache.unavailable", error=str(exc))
