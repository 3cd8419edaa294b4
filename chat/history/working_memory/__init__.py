"""Working memory: the last messages of each conversation in Redis, read on every message.

Key ``t:{tenant_id}:conv:{conversation_id}:recent``: a list of JSON items (id, role, content),
oldest first, at most ``CHAT_HISTORY_MESSAGES`` (20), expiring ``CHAT_MEMORY_TTL_S`` (2 h) after
its last use. PostgreSQL is the source of truth: a missing list (expired, a flush, a Redis
restart) is refilled from it, and a turn is appended only to a list that exists, so the memory
is either complete or absent, never a partial history. Redis errors count as a miss.
Without Redis (the embedded default) the same interface keeps the lists in this process.
"""

from django.conf import settings

from chat.history.working_memory.base import Remembered, WorkingMemory, decode_item, encode_item, memory_key
from chat.history.working_memory.memory import MemoryWorkingMemory
from chat.history.working_memory.redis import RedisWorkingMemory

_local = MemoryWorkingMemory()


def get_working_memory() -> WorkingMemory:
    return RedisWorkingMemory() if settings.REDIS_URL else _local


__all__ = [
    "MemoryWorkingMemory",
    "RedisWorkingMemory",
    "Remembered",
    "WorkingMemory",
    "decode_item",
    "encode_item",
    "get_working_memory",
    "memory_key",
]
