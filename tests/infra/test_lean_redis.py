"""``infra.lean_redis``, the connection every message's Redis calls go over, on a real
Redis: many callers' commands on one connection each get their own replies, an error reply is
an exception (a ``RedisError``, as the callers expect), a script runs by its SHA whether or not
Redis knows it, and a cancelled caller, a timeout or a restarted Redis never leaves the
connection out of step."""

import asyncio

import pytest
import redis
import redis.asyncio as aioredis
import uvloop
from django.conf import settings

from infra.lean_redis import LeanRedis, LeanRedisError, Script
from testkit.redis_deployments import OwnRedis


async def test_callers_sharing_the_connection_each_get_their_replies() -> None:
    lean = LeanRedis(settings.REDIS_URL, timeout=30)
    try:

        async def one(index: int) -> list[object]:
            return await lean.execute(("SET", f"lean:{index}", index), ("GET", f"lean:{index}"))

        replies = await asyncio.gather(*(one(i) for i in range(300)))
        assert replies == [[b"OK", str(i).encode()] for i in range(300)]
    finally:
        await lean.close()


def test_it_works_on_uvloop_as_under_daphne() -> None:
    """uvloop's transports are not ``asyncio.Transport`` instances."""

    async def body() -> list[object]:
        lean = LeanRedis(settings.REDIS_URL, timeout=30)
        try:
            return await lean.execute(("SET", "lean:uv", "yes"), ("GET", "lean:uv"))
        finally:
            await lean.close()

    assert uvloop.run(body()) == [b"OK", b"yes"]


async def test_it_uses_the_database_of_its_url_and_an_error_reply_raises() -> None:
    url = settings.REDIS_URL.rsplit("/", 1)[0] + "/5"
    lean = LeanRedis(url, timeout=30)
    plain = aioredis.Redis.from_url(url)
    try:
        await lean.execute(("SET", "lean:db", "five"))
        assert await plain.get("lean:db") == b"five"
        with pytest.raises(redis.RedisError, match="WRONGTYPE") as refused:
            await lean.execute(("LPUSH", "lean:db", "x"), ("SET", "lean:after", "yes"))
        assert isinstance(refused.value, LeanRedisError)
        assert await plain.get("lean:after") == b"yes"  # the call's other command was carried out
        assert await lean.execute(("GET", "lean:db")) == [b"five"]
    finally:
        await plain.delete("lean:db", "lean:after")
        await plain.aclose()
        await lean.close()


async def test_a_cancelled_caller_leaves_the_connection_in_step() -> None:
    lean = LeanRedis(settings.REDIS_URL, timeout=30)
    plain = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        await lean.execute(("DEL", "lean:queue"))
        blocked = asyncio.ensure_future(lean.execute(("BLPOP", "lean:queue", 60)))
        while not any(c.get("cmd") == "blpop" for c in await plain.client_list()):
            await asyncio.sleep(0.01)
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        after = asyncio.ensure_future(lean.execute(("SET", "lean:next", "mine"), ("GET", "lean:next")))
        await plain.rpush("lean:queue", "for the cancelled call")
        assert await asyncio.wait_for(after, 30) == [b"OK", b"mine"]
    finally:
        await plain.aclose()
        await lean.close()


async def test_a_call_unanswered_in_time_fails_and_the_next_one_reconnects() -> None:
    lean = LeanRedis(settings.REDIS_URL, timeout=0.3)
    try:
        await lean.execute(("DEL", "lean:empty"))
        with pytest.raises(TimeoutError):
            await lean.execute(("BLPOP", "lean:empty", 30))  # the server holds it for 30 s
        assert await lean.execute(("SET", "lean:t", "1"), ("GET", "lean:t")) == [b"OK", b"1"]
    finally:
        await lean.close()


async def test_a_restarted_redis_fails_the_calls_while_it_is_away_then_serves_again(
    own_redis: OwnRedis,
) -> None:
    redis.Redis(port=own_redis.port).config_set("requirepass", "s3cret")
    url = f"redis://:s3cret@127.0.0.1:{own_redis.port}/2"
    lean = LeanRedis(url, timeout=5)
    try:
        assert await lean.execute(("SET", "k", "before")) == [b"OK"]
        own_redis.stop()
        with pytest.raises((ConnectionError, OSError)):
            await lean.execute(("GET", "k"))
        own_redis.start()
        redis.Redis(port=own_redis.port).config_set("requirepass", "s3cret")
        assert await lean.execute(("SET", "k", "after"), ("GET", "k")) == [b"OK", b"after"]
        assert redis.Redis(port=own_redis.port, password="s3cret", db=2).get("k") == b"after"
    finally:
        await lean.close()


async def test_a_script_runs_by_its_sha_and_is_sent_whole_to_a_redis_that_forgot_it() -> None:
    script = Script("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}")
    lean = LeanRedis(settings.REDIS_URL, timeout=30)
    plain = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        await plain.delete("lean:script")
        await plain.script_flush()
        assert await lean.eval(script, ["lean:script"], [2.5]) == [b"lean:script", b"2.5", 1]
        assert await plain.script_exists(script.sha) == [True]  # loaded by the EVAL fallback
        await plain.script_flush()  # as after a restart
        replies = await asyncio.gather(*(lean.eval(script, ["lean:script"], ["x"]) for _ in range(20)))
        assert sorted(reply[2] for reply in replies) == list(range(2, 22))
        with pytest.raises(LeanRedisError, match="boom"):
            await lean.eval(Script("return redis.error_reply('boom')"), [])
    finally:
        await plain.delete("lean:script")
        await plain.aclose()
        await lean.close()


async def test_under_sentinel_only_a_master_is_used_and_a_demoted_one_is_left() -> None:
    """``locate`` (the Sentinels' answer) names the server; one that says it is not the master
    is refused, and a master demoted under the connection (``READONLY``) is left for the one
    named next."""
    first, second = OwnRedis(), OwnRedis()
    first.start()
    second.start()
    named = [first.port]

    async def locate() -> tuple[str, int]:
        return "127.0.0.1", named[0]

    lean = LeanRedis("redis://ignored:1/0", timeout=10, locate=locate)
    try:
        assert await lean.execute(("SET", "k", "1")) == [b"OK"]
        redis.Redis(port=first.port).replicaof("127.0.0.1", second.port)  # a failover elsewhere
        with pytest.raises(LeanRedisError, match="READONLY"):
            await lean.execute(("SET", "k", "2"))
        with pytest.raises(ConnectionError, match="not the master"):  # the Sentinels lag behind
            await lean.execute(("SET", "k", "2"))
        named[0] = second.port
        assert await lean.execute(("SET", "k", "3"), ("GET", "k")) == [b"OK", b"3"]
    finally:
        await lean.close()
        first.stop()
        second.stop()
