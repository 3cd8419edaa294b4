"""One contract, two limit stores: Redis (production) and in-process (the embedded default)."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from billing.limits.base import BudgetKeys, LimitStore, RateLimit, StreamLease
from billing.limits.memory_store import MemoryLimitStore
from billing.limits.redis_store import RedisLimitStore


@pytest.fixture(params=["redis", "memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[LimitStore]:
    if request.param == "memory":
        yield MemoryLimitStore()
        return
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    yield RedisLimitStore(client)
    await client.aclose()


def ns() -> str:
    """A fresh key namespace per test (tenant-prefixed, as every key is)."""
    return f"t:{uuid.uuid4().int % 10**9}"


def lease(prefix: str, max_streams: int = 100, ttl_s: float = 30) -> StreamLease:
    return StreamLease(
        key=f"{prefix}:streams", lease_id=uuid.uuid4().hex, max_streams=max_streams, ttl_s=ttl_s
    )


async def admit_n(store: LimitStore, limits: list[RateLimit], prefix: str, n: int) -> list[bool]:
    return [(await store.admit(limits=limits, lease=lease(prefix))).admitted for _ in range(n)]


async def test_a_rate_limit_admits_a_burst_of_its_size_then_names_itself(store: LimitStore) -> None:
    prefix = ns()
    limits = [RateLimit("tenant_per_minute", f"{prefix}:rate:60", 10, 60)]
    assert await admit_n(store, limits, prefix, 10) == [True] * 10
    refused = await store.admit(limits=limits, lease=lease(prefix))
    assert (refused.admitted, refused.refused_by) == (False, "tenant_per_minute")
    assert 5.9 <= refused.retry_after <= 6.1  # 60 s / 10 messages


async def test_refusals_consume_nothing_and_the_refusing_limit_is_named(store: LimitStore) -> None:
    prefix = ns()
    user = RateLimit("user_per_minute", f"{prefix}:rate:user:1:60", 2, 60)
    other_user = RateLimit("user_per_minute", f"{prefix}:rate:user:2:60", 100, 60)
    tenant = RateLimit("tenant_per_minute", f"{prefix}:rate:tenant:60", 5, 60)
    assert await admit_n(store, [user, tenant], prefix, 2) == [True, True]
    for _ in range(20):  # the user's limit refuses: the tenant's window must not move
        assert (await store.admit(limits=[user, tenant], lease=lease(prefix))).refused_by == "user_per_minute"
    assert await admit_n(store, [other_user, tenant], prefix, 4) == [True, True, True, False]


async def test_the_window_refills_at_its_rate(store: LimitStore) -> None:
    prefix = ns()
    limits = [RateLimit("tenant_per_minute", f"{prefix}:rate:1", 2, 1)]  # 2 per second
    assert await admit_n(store, limits, prefix, 3) == [True, True, False]
    await asyncio.sleep(0.55)
    assert await admit_n(store, limits, prefix, 2) == [True, False]


async def test_stream_slots_are_held_renewed_released_and_lapse(store: LimitStore) -> None:
    prefix = ns()
    first, second = lease(prefix, max_streams=2, ttl_s=0.6), lease(prefix, max_streams=2, ttl_s=0.6)
    assert (await store.admit(limits=[], lease=first)).admitted
    assert (await store.admit(limits=[], lease=second)).admitted
    third = await store.admit(limits=[], lease=lease(prefix, max_streams=2, ttl_s=0.6))
    assert (third.admitted, third.refused_by) == (False, "streams") and 0 < third.retry_after <= 0.6
    await store.release(lease=first)
    assert (await store.admit(limits=[], lease=lease(prefix, max_streams=2, ttl_s=0.6))).admitted
    # `second` is renewed, the newest is not: after the TTL only `second` still holds a slot.
    await asyncio.sleep(0.4)
    await store.renew(lease=second)
    await asyncio.sleep(0.4)
    assert (await store.admit(limits=[], lease=lease(prefix, max_streams=2, ttl_s=0.6))).admitted
    assert not (await store.admit(limits=[], lease=lease(prefix, max_streams=2, ttl_s=0.6))).admitted


async def test_a_stream_refusal_consumes_no_rate(store: LimitStore) -> None:
    prefix = ns()
    limits = [RateLimit("tenant_per_minute", f"{prefix}:rate:60", 2, 60)]
    assert (await store.admit(limits=limits, lease=lease(prefix, max_streams=1))).admitted
    for _ in range(5):
        assert (await store.admit(limits=limits, lease=lease(prefix, max_streams=1))).refused_by == "streams"
    assert (await store.admit(limits=limits, lease=lease(prefix, max_streams=5))).admitted


def budget(prefix: str) -> BudgetKeys:
    return BudgetKeys(
        counters=f"{prefix}:budget:2026-11",
        expiries=f"{prefix}:budget:2026-11:expiries",
        amounts=f"{prefix}:budget:2026-11:amounts",
    )


async def test_a_budget_must_be_seeded_then_reserves_settles_and_refuses(store: LimitStore) -> None:
    keys = budget(ns())
    assert (await store.reserve(keys=keys, reservation_id="a", tokens=10, budget=100, ttl_s=60)).needs_seed
    await store.seed(keys=keys, used=40, ttl_s=3600)
    await store.seed(keys=keys, used=0, ttl_s=3600)  # a second seed never overwrites
    first = await store.reserve(keys=keys, reservation_id="a", tokens=50, budget=100, ttl_s=60)
    assert (first.granted, first.used, first.reserved) == (True, 40, 50)
    refused = await store.reserve(keys=keys, reservation_id="b", tokens=20, budget=100, ttl_s=60)
    assert (refused.granted, refused.used, refused.reserved) == (False, 40, 50)
    await store.settle(keys=keys, reservation_id="a", tokens=30)  # used less than held
    again = await store.reserve(keys=keys, reservation_id="b", tokens=20, budget=100, ttl_s=60)
    assert (again.granted, again.used, again.reserved) == (True, 70, 20)


async def test_an_unsettled_reservation_lapses(store: LimitStore) -> None:
    keys = budget(ns())
    await store.seed(keys=keys, used=0, ttl_s=3600)
    assert (await store.reserve(keys=keys, reservation_id="a", tokens=90, budget=100, ttl_s=0.3)).granted
    assert not (await store.reserve(keys=keys, reservation_id="b", tokens=90, budget=100, ttl_s=0.3)).granted
    await asyncio.sleep(0.4)
    assert (await store.reserve(keys=keys, reservation_id="b", tokens=90, budget=100, ttl_s=0.3)).granted


async def test_concurrent_reservations_never_overshoot(store: LimitStore) -> None:
    keys = budget(ns())
    await store.seed(keys=keys, used=9_000, ttl_s=3600)
    results = await asyncio.gather(
        *(
            store.reserve(keys=keys, reservation_id=str(i), tokens=300, budget=10_000, ttl_s=60)
            for i in range(50)
        )
    )
    assert sum(r.granted for r in results) == 3  # 9,000 + 3 * 300 <= 10,000 < 9,000 + 4 * 300
