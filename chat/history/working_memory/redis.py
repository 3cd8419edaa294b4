"""Working memory in Redis, shared by every instance (production)."""

import structlog
from django.conf import settings
from redis.exceptions import RedisError

from chat.history.working_memory.base import Remembered, decode_item, encode_item, memory_key
from infra.hot_redis import lean_redis
from infra.lean_redis import Command, Script

log = structlog.stdlib.get_logger(__name__)


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
        key = memory_key(tenant_id, conversation_id)
        try:
            raw, exists = await lean_redis().execute(
                ("LRANGE", key, 0, -1), ("EXPIRE", key, int(settings.CHAT_MEMORY_TTL_S))
            )
        except (RedisError, OSError) as exc:
            log.warning("memory.unavailable", error=str(exc))
            return None
        return [decode_item(r) for r in raw] if exists else None

    async def refill(self, *, tenant_id: int, conversation_id: int, items: list[Remembered]) -> None:
        key = memory_key(tenant_id, conversation_id)
        try:
            commands: list[Command] = [("MULTI",), ("DEL", key)]
            if items:  # Redis has no empty list: a conversation with no message stays absent
                kept = items[-settings.CHAT_HISTORY_MESSAGES :]
                commands.append(("RPUSH", key, *(encode_item(i) for i in kept)))
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
                [memory_key(tenant_id, conversation_id)],
                [
                    settings.CHAT_HISTORY_MESSAGES,
                    int(settings.CHAT_MEMORY_TTL_S),
                    int(first),
                    *(encode_item(i) for i in items),
                ],
            )
        except (RedisError, OSError) as exc:
            log.warning("memory.unavailable", error=str(exc))
