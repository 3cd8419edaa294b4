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

from django.conf import settings

from chat.gateway.llm.breaker.base import BreakerSettings, BreakerStore, Pass
from chat.gateway.llm.breaker.memory import MemoryBreakerStore
from chat.gateway.llm.breaker.redis import RedisBreakerStore

_memory_store = MemoryBreakerStore()


def get_breaker_store() -> BreakerStore:
    return RedisBreakerStore() if settings.REDIS_URL else _memory_store


__all__ = [
    "BreakerSettings",
    "BreakerStore",
    "MemoryBreakerStore",
    "Pass",
    "RedisBreakerStore",
    "get_breaker_store",
]
