"""Limits: the store that decides them, Redis in production, in-process by default."""

import asyncio
import weakref

from django.conf import settings

from billing.limits.base import LimitStore
from billing.limits.memory import MemoryLimitStore
from billing.limits.redis import RedisLimitStore
from infra.hot_redis import lean_redis

_stores: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LimitStore]" = weakref.WeakKeyDictionary()


def get_limit_store() -> LimitStore:
    loop = asyncio.get_running_loop()
    store = _stores.get(loop)
    if store is None:
        store = RedisLimitStore(lean_redis()) if settings.REDIS_URL else MemoryLimitStore()
        _stores[loop] = store
    return store


__all__ = ["LimitStore", "MemoryLimitStore", "RedisLimitStore", "get_limit_store"]
