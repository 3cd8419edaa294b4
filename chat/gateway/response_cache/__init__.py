"""The exact response cache: an answer is reused for the same question asked in the same
situation. The key covers everything the answer depends on: the tenant, the model, the whole
context sent (the effective system prompt, the history) with the tenant's config version, and
the question, normalized (case, spacing). Keys are ``t:{tenant_id}:cache:exact:{sha256}``.

Redis is shared by all instances; the embedded default keeps a bounded in-process LRU. A cache
that cannot be reached is a miss (logged), never a failed message.
"""

from django.conf import settings

from chat.gateway.response_cache.base import (
    CachedAnswer,
    ResponseCache,
    decode_answer,
    encode_answer,
    exact_key,
    normalize,
)
from chat.gateway.response_cache.memory import MemoryResponseCache
from chat.gateway.response_cache.redis import RedisResponseCache

_memory_cache = MemoryResponseCache(max_entries=10_000)


def get_response_cache() -> ResponseCache:
    return RedisResponseCache() if settings.REDIS_URL else _memory_cache


__all__ = [
    "CachedAnswer",
    "MemoryResponseCache",
    "RedisResponseCache",
    "ResponseCache",
    "decode_answer",
    "encode_answer",
    "exact_key",
    "get_response_cache",
    "normalize",
]
