"""Limits: the store that decides them, Redis in production, in-process by default."""

import asyncio
import weakref

import redis.asyncio as aioredis
from django.conf import settings

from billing.limits.base import LimitStore
from billing.limits.memory_store import MemoryLimitStore
from billing.limits.redis_store import RedisLimitStore

# A redis.asyncio client's connections belong to the event loop that opened them.
_stores: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LimitStore]" = weakref.WeakKeyDictionary()


def get_limit_store() -> LimitStore:
    loop = asyncio.get_running_loop()
    store = _stores.get(loop)
    if store is None:
        if settings.REDIS_URL:
            client = aioredis.Redis.from_url(
                settings.REDIS_URL,
                # Fail fast: a message waits for the decision, and no answer is better than a
                # hung one. The client reconnects on its own once Redis is back.
                socket_timeout=settings.LIMITS_REDIS_TIMEOUT,
                socket_connect_timeout=settings.LIMITS_REDIS_TIMEOUT,
            )
            store = RedisLimitStore(client)
        else:
            store = MemoryLimitStore()
        _stores[loop] = store
    return store
