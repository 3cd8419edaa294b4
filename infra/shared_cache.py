"""One cache client per process, for the platform's own shared state (sign-in counters, ended
sign-ins, conversations before their first message): Redis in production, this process's memory
by default (``CACHES``).

Not Django's ``django.core.cache.cache``: that is one client per thread *and per async context*,
so under ASGI every handshake's trip to a database thread built a client of its own, with its own
Redis connection pool (measured: +13 KB of RSS and half the connect rate per socket, 1,000
sockets, ``bench/ws_bench.py --scenario idle``). Both backends are thread-safe.
"""

import functools

from django.core.cache import BaseCache, caches


@functools.cache
def shared_cache() -> BaseCache:
    return caches.create_connection("default")
