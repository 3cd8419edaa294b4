"""The Redis clients of the message hot path, one of each per event loop: ``lean_redis`` for the
commands every message makes (``infra.lean_redis``), ``hot_redis`` (redis-py) for the
rest of the chat path's (resuming, the reaper, the semantic cache, the outbox).

A redis.asyncio client's connections belong to the event loop that opened them. Its timeouts
are short: a message waits on these calls, and no answer is better than a hung one. The client
reconnects on its own once Redis is back.

The pool blocks at its cap (``REDIS_POOL_MAX``) for up to the same short timeout instead of
raising at once: with a plain pool, a burst of concurrent messages past the cap (each turn
makes several calls: claim, admission, caches, frames) got ``MaxConnectionsError``, which the
fail-closed limits turned into refusals under plain load.

redis-py 8's blocking pool wraps every checkout in a condition, a timeout, a lock and its
observability hooks (about a twentieth of Daphne's CPU under load, ``bench/ceiling.py``'s
profile); ``HotConnectionPool`` hands out an idle connection without them and leaves the rest
(waiting at the cap, making a connection) to it.
"""

from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.connection import AbstractConnection

from infra.aio import per_loop
from infra.lean_redis import LeanClient
from infra.redis_topology import async_client, lean_client, topology_from_settings

# The start of a Lua script that needs the time: Redis's own clock, in ms, so that instances
# whose clocks differ never disagree about a window or a lease.
LUA_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""


class HotConnectionPool(aioredis.BlockingConnectionPool):
    """A blocking pool whose common case is cheap: an idle connection is taken and given back
    directly (checked as the parent checks it: connected, nothing left unread on it). Waiting at
    the cap, making a connection and waking a waiter stay the parent's (redis 8.1's internals,
    pinned in requirements.txt; ``tests/infra/test_hot_redis.py``)."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        if not self._available_connections or self._in_maintenance:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-any-return]
        connection = self._available_connections.pop()
        self._in_use_connections.add(connection)
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        if self._condition._waiters or connection.should_reconnect() or self._in_maintenance:  # type: ignore[attr-defined]
            await super().release(connection)
            return
        self._in_use_connections.remove(connection)
        self._available_connections.append(connection)


def _hot() -> aioredis.Redis:
    found = topology_from_settings()
    options = {
        "max_connections": settings.REDIS_POOL_MAX,
        "timeout": settings.LIMITS_REDIS_TIMEOUT,
        "socket_timeout": settings.LIMITS_REDIS_TIMEOUT,
        "socket_connect_timeout": settings.LIMITS_REDIS_TIMEOUT,
    }
    if found.kind != "single":  # Sentinel's and the Cluster's own pools (redis-py's)
        return async_client(found, **options)  # type: ignore[return-value]
    return aioredis.Redis(connection_pool=HotConnectionPool.from_url(found.url, **options))


def _lean() -> LeanClient:
    return lean_client(topology_from_settings(), timeout=settings.LIMITS_REDIS_TIMEOUT)


# One of each per event loop.
hot_redis = per_loop(_hot)
lean_redis = per_loop(_lean)
