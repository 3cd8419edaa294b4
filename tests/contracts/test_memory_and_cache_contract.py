"""One contract each for two more swappable parts, run against both implementations: the
conversation's working memory (``chat.history.working_memory``) and the exact response cache
(``chat.gateway.response_cache``), Redis (production: one server, and a Redis Cluster) and
in-process (the embedded default)."""

import asyncio
import random
import time
from typing import Any

import pytest

from chat.gateway.response_cache import (
    CachedAnswer,
    MemoryResponseCache,
    RedisResponseCache,
    ResponseCache,
    get_response_cache,
)
from chat.history.working_memory import (
    MemoryWorkingMemory,
    RedisWorkingMemory,
    Remembered,
    WorkingMemory,
    get_working_memory,
)
from infra.keys import tenant_prefix


def _on_redis(request: pytest.FixtureRequest) -> bool:
    """Whether the fixture's kind is a Redis one; a cluster's is made the process's Redis."""
    if request.param == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        settings = request.getfixturevalue("settings")
        settings.REDIS_URL, settings.REDIS_CLUSTER_NODES = cluster.url, cluster.setting
    return request.param != "memory"


@pytest.fixture(params=["redis", "cluster", "memory"])
def memory(request: pytest.FixtureRequest) -> WorkingMemory:
    return RedisWorkingMemory() if _on_redis(request) else MemoryWorkingMemory()


@pytest.fixture(params=["redis", "cluster", "memory"])
def cache(request: pytest.FixtureRequest) -> ResponseCache:
    return RedisResponseCache() if _on_redis(request) else MemoryResponseCache(max_entries=100)


def a_conversation() -> dict[str, int]:
    return {"tenant_id": random.randrange(10**6, 10**9), "conversation_id": random.randrange(1, 10**9)}


def items(start: int, count: int) -> list[Remembered]:
    return [
        Remembered(n, "user" if n % 2 else "assistant", f"message {n} ✓ \u00e9")
        for n in range(start, start + count)
    ]


async def test_memory_is_complete_or_absent(memory: WorkingMemory) -> None:
    where = a_conversation()
    assert await memory.recent(**where) is None
    await memory.append(**where, items=items(1, 2))  # not the first messages: no partial list
    assert await memory.recent(**where) is None
    await memory.append(**where, items=items(1, 2), first=True)
    assert await memory.recent(**where) == items(1, 2)
    await memory.append(**where, items=items(3, 2))
    assert await memory.recent(**where) == items(1, 4)


async def test_memory_keeps_the_last_messages_and_refills_whole(memory: WorkingMemory, settings: Any) -> None:
    settings.CHAT_HISTORY_MESSAGES = 5
    where = a_conversation()
    await memory.refill(**where, items=items(1, 8))
    assert await memory.recent(**where) == items(4, 5)
    await memory.append(**where, items=items(9, 3))
    assert await memory.recent(**where) == items(7, 5)
    await memory.refill(**where, items=items(100, 2))
    assert await memory.recent(**where) == items(100, 2)
    await memory.refill(**where, items=[])  # a conversation with no message has no list
    assert await memory.recent(**where) is None


async def test_memory_is_per_tenant_and_conversation(memory: WorkingMemory) -> None:
    where = a_conversation()
    await memory.refill(**where, items=items(1, 3))
    other_tenant = {**where, "tenant_id": where["tenant_id"] + 1}
    other_conversation = {**where, "conversation_id": where["conversation_id"] + 1}
    assert await memory.recent(**other_tenant) is None
    assert await memory.recent(**other_conversation) is None


def a_key() -> str:
    return f"{tenant_prefix(random.randrange(10**6, 10**9))}:cache:exact:{random.getrandbits(128):032x}"


async def test_the_cache_gives_back_what_was_put_under_its_key_only(cache: ResponseCache) -> None:
    key, other = a_key(), a_key()
    assert await cache.get(key) is None
    answer = CachedAnswer(text="Nine to five, Monday to Friday ✓", model="gpt-4o-mini")
    await cache.put(key, answer, ttl_s=60)
    assert await cache.get(key) == answer
    assert await cache.get(other) is None
    newer = CachedAnswer(text="Nine to six.", model="gpt-4o")
    await cache.put(key, newer, ttl_s=60)
    assert await cache.get(key) == newer


async def test_a_cached_answer_lapses_after_its_ttl(cache: ResponseCache) -> None:
    key = a_key()
    await cache.put(key, CachedAnswer(text="soon gone", model="m"), ttl_s=1)
    deadline = time.monotonic() + 30
    while await cache.get(key) is not None:
        assert time.monotonic() < deadline, "the entry outlived its TTL by 29 s"
        await asyncio.sleep(0.2)


def test_both_layouts_are_chosen_by_redis_url(settings: Any) -> None:
    assert isinstance(get_response_cache(), RedisResponseCache) == bool(settings.REDIS_URL)
    assert isinstance(get_working_memory(), RedisWorkingMemory) == bool(settings.REDIS_URL)
    settings.REDIS_URL = ""
    assert isinstance(get_response_cache(), MemoryResponseCache)
    assert isinstance(get_working_memory(), MemoryWorkingMemory)
