"""The Redis client of the message hot path (limits, response caches), one per event loop.

A redis.asyncio client's connections belong to the event loop that opened them. Its timeouts
are short: a message waits on these calls, and no answer is better than a hung one. The client
reconnects on its own once Redis is back.

The pool blocks at its cap (``REDIS_POOL_MAX``) for up to the same short timeout instead of
raising at once: with a plain pool, a burst of concurrent messages past the cap (each turn
makes several calls: claim, admission, caches, frames) got ``MaxConnectionsError``, which the
fail-closed limits turned into refusals under plain load.
"""

import asyncio
import weakref

import redis.asyncio as aioredis
from django.conf import settings
from redis.commands.core import AsyncScript

# The start of a Lua script that needs the time: Redis's own clock, in ms, so that instances
# whose clocks differ never disagree about a window or a lease.
LUA_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis]" = weakref.WeakKeyDictionary()
_scripts: "weakref.WeakKeyDictionary[aioredis.Redis, dict[str, AsyncScript]]" = weakref.WeakKeyDictionary()


def hot_redis() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=settings.REDIS_POOL_MAX,
            timeout=settings.LIMITS_REDIS_TIMEOUT,
            socket_timeout=settings.LIMITS_REDIS_TIMEOUT,
            socket_connect_timeout=settings.LIMITS_REDIS_TIMEOUT,
        )
        client = aioredis.Redis(connection_pool=pool)
        _clients[loop] = client
    return client


def hot_script(source: str) -> AsyncScript:
    """A Lua script on the hot client, sent by its SHA (``EVALSHA``; the text only once per
    connection that has not seen it), not in full with every call."""
    client = hot_redis()
    scripts = _scripts.setdefault(client, {})
    script = scripts.get(source)
    if script is None:
        script = scripts[source] = client.register_script(source)
    return script
