"""The hot path's Redis pool (``infra.hot_redis.HotConnectionPool``): its fast checkout
keeps the blocking pool's contract on the real Redis: never more connections than the cap, a
command past the cap waits for a connection (and is refused after the pool's timeout), and a
connection a cancelled command left behind never answers the next command."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError

from infra.hot_redis import HotConnectionPool


def pool(*, cap: int, timeout: float) -> HotConnectionPool:
    return HotConnectionPool.from_url(settings.REDIS_URL, max_connections=cap, timeout=timeout)


def opened(pool: HotConnectionPool) -> int:
    return len(pool._available_connections) + len(pool._in_use_connections)


@contextlib.asynccontextmanager
async def clients(*, cap: int, timeout: float) -> AsyncIterator[tuple[HotConnectionPool, Any, Any]]:
    """A client on a hot pool, and another on its own connection to feed the lists it waits on."""
    hot = pool(cap=cap, timeout=timeout)
    client = aioredis.Redis(connection_pool=hot)
    other = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        yield hot, client, other
    finally:
        await client.aclose()
        await other.aclose()


async def holding(hot: HotConnectionPool, count: int) -> None:
    """Until ``count`` of the pool's connections are in use (commands blocked on the server)."""
    while len(hot._in_use_connections) < count:
        await asyncio.sleep(0.01)


async def test_many_commands_share_the_capped_connections() -> None:
    most = 0
    async with clients(cap=2, timeout=30) as (hot, client, _):

        async def one(index: int) -> int:
            nonlocal most
            await client.set(f"hot:{index}", index)
            most = max(most, opened(hot))
            return int(await client.get(f"hot:{index}"))

        assert await asyncio.gather(*(one(i) for i in range(200))) == list(range(200))
        assert most <= 2 and opened(hot) <= 2


async def test_a_command_past_the_cap_waits_for_a_released_connection() -> None:
    async with clients(cap=2, timeout=30) as (hot, client, other):
        # Two commands hold both connections until the list gets its items.
        held = [asyncio.ensure_future(client.blpop(["hot:queue"], timeout=60)) for _ in range(2)]
        await holding(hot, 2)
        waiting = asyncio.ensure_future(client.set("hot:late", "yes"))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await other.rpush("hot:queue", "a", "b")
        assert sorted(item for _, item in await asyncio.gather(*held)) == [b"a", b"b"]
        assert await asyncio.wait_for(waiting, 30)
        assert await client.get("hot:late") == b"yes"
        assert opened(hot) <= 2


async def test_past_the_cap_the_wait_ends_after_the_pool_timeout() -> None:
    async with clients(cap=1, timeout=0.2) as (hot, client, other):
        held = asyncio.ensure_future(client.blpop(["hot:held"], timeout=60))
        await holding(hot, 1)
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await client.get("hot:any")
        await other.rpush("hot:held", "x")
        assert await asyncio.wait_for(held, 30) == (b"hot:held", b"x")


async def test_a_cancelled_command_never_answers_the_next_one() -> None:
    async with clients(cap=1, timeout=30) as (hot, client, other):
        blocked = asyncio.ensure_future(client.blpop(["hot:never"], timeout=60))
        await holding(hot, 1)
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        await other.rpush("hot:never", "stale")  # would be the cancelled command's reply
        await client.set("hot:fresh", "value")
        assert await client.get("hot:fresh") == b"value"
        assert await other.lrange("hot:never", 0, -1) == [b"stale"]
