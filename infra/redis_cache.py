"""Django's Redis cache on any Redis deployment (``infra.redis_topology``): its client asks
the topology for the redis-py client (a Sentinel's master, a ``RedisCluster``) instead of
building a pool from ``LOCATION``. Every multi-key call the platform makes on the cache stays in
one slot (``tenants.attempts``, ``chat.history.pending``)."""

import functools
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient

from infra.redis_topology import sync_client


class RedisCacheClient(DjangoRedisCacheClient):
    @functools.cached_property
    def _deployment_client(self) -> Any:
        options = self._pool_options  # type: ignore[attr-defined]
        return sync_client(**{k: v for k, v in options.items() if k != "parser_class"})

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        return self._deployment_client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
