"""One contract, two limit stores: Redis (production: one server, and a Redis Cluster) and
in-process (the embedded default)."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from billing.limits.base import Admission, BudgetClaim, BudgetKeys, LimitStore, RateLimit, StreamLease
from billing.limits.memory import MemoryLimitStore
from billing.limits.redis import RedisLimitStore
from infra.keys import tenant_prefix
from infra.redis_topology import lean_client
from testkit.redis_deployments import topology_for


@pytest.fixture(params=["redis", "cluster", "memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[LimitStore]:
    if request.param == "memory":
        yield MemoryLimitStore()
        return
    client = lean_client(topology_for(request), timeout=5)
    yield RedisLimitStore(client)
    await client.close()


def ns() -> str:
    """A fresh key namespace per test (tenant-prefixed, as every key is)."""
    return tenant_prefix(uuid.uuid4().int % 10**9)


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


async def test_the_platforms_window_is_taken_alone_and_given_back(store: LimitStore) -> None:
    """The platform's window lives in no tenant's slot: taken in a step of its own, and given
    back when the tenant's admission then refuses the message."""
    platform = RateLimit("global_per_minute", f"global:rate:{uuid.uuid4().hex}", 3, 60)
    assert [await store.take(limit=platform) for _ in range(3)] == [None] * 3
    wait = await store.take(limit=platform)
    assert wait is not None and 19.9 <= wait <= 20.1  # 60 s / 3 messages
    await store.give_back(limit=platform)
    assert await store.take(limit=platform) is None  # the one given back
    assert await store.take(limit=platform) is not None
    for _ in range(5):  # given back more than was taken: the window is empty, not in credit
        await store.give_back(limit=platform)
    assert [await store.take(limit=platform) is None for _ in range(4)] == [True, True, True, False]


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
    await store.finish(lease=first)
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
    base = f"{prefix}:budget:2026-11"
    return BudgetKeys(counters=base, expiries=f"{base}:expiries", amounts=f"{base}:amounts")


async def claim(
    store: LimitStore, keys: BudgetKeys, tokens: int, ttl_s: float = 60
) -> tuple[Admission, StreamLease]:
    held = lease(keys.counters.split(":budget")[0])
    admission = await store.admit(
        limits=[], lease=held, claims=[BudgetClaim("budget", keys, tokens, budget=100, ttl_s=ttl_s)]
    )
    return admission, held


async def test_a_budget_must_be_seeded_then_holds_settles_and_refuses(store: LimitStore) -> None:
    keys = budget(ns())
    assert (await claim(store, keys, 10))[0].needs_seed
    await store.seed(keys=keys, used=40, ttl_s=3600)
    await store.seed(keys=keys, used=0, ttl_s=3600)  # a second seed never overwrites
    first, held = await claim(store, keys, 50)
    assert (first.admitted, first.held) == (True, ((40, 50),))
    refused, _ = await claim(store, keys, 20)
    assert (refused.admitted, refused.refused_by, refused.used, refused.reserved) == (False, "budget", 40, 50)
    await store.finish(lease=held, spent=[(keys, 30)])  # used less than it held
    again, _ = await claim(store, keys, 20)
    assert (again.admitted, again.held) == (True, ((70, 20),))


async def test_a_budget_refusal_takes_no_rate_and_no_slot(store: LimitStore) -> None:
    prefix = ns()
    keys = budget(prefix)
    await store.seed(keys=keys, used=100, ttl_s=3600)
    window = [RateLimit("tenant_per_minute", f"{prefix}:rate:60", 1, 60)]
    slot = lease(prefix, max_streams=1)
    refused = await store.admit(
        limits=window, lease=slot, claims=[BudgetClaim("budget", keys, 1, budget=100, ttl_s=60)]
    )
    assert refused.refused_by == "budget"
    assert (await store.admit(limits=window, lease=lease(prefix, max_streams=1))).admitted


async def test_an_unsettled_reservation_lapses(store: LimitStore) -> None:
    keys = budget(ns())
    await store.seed(keys=keys, used=0, ttl_s=3600)
    assert (await claim(store, keys, 90, ttl_s=0.3))[0].admitted
    assert not (await claim(store, keys, 90, ttl_s=0.3))[0].admitted
    await asyncio.sleep(0.4)
    assert (await claim(store, keys, 90, ttl_s=0.3))[0].admitted


async def test_concurrent_reservations_never_overshoot(store: LimitStore) -> None:
    prefix = ns()
    keys = budget(prefix)
    await store.seed(keys=keys, used=9_000, ttl_s=3600)
    results = await asyncio.gather(
        *(
            store.admit(
                limits=[],
                lease=lease(prefix),
                claims=[BudgetClaim("budget", keys, 300, budget=10_000, ttl_s=60)],
            )
            for _ in range(50)
        )
    )
    assert sum(r.admitted for r in results) == 3  # 9,000 + 3 * 300 <= 10,000 < 9,000 + 4 * 300


def socket_slot(key: str, lease_id: str, most: int) -> StreamLease:
    return StreamLease(key=key, lease_id=lease_id, max_streams=most, ttl_s=30)


async def test_socket_slots_are_taken_in_every_set_or_in_none_and_given_back(store: LimitStore) -> None:
    prefix = ns()

    def slots(user: int, lease_id: str) -> list[StreamLease]:
        return [
            socket_slot(f"{prefix}:sockets:user:{user}", lease_id, 2),
            socket_slot(f"{prefix}:sockets", lease_id, 3),
        ]

    assert await store.hold(leases=slots(1, "a")) is None
    assert await store.hold(leases=slots(1, "b")) is None
    assert await store.hold(leases=slots(1, "c")) == 0  # the user's set is full
    assert await store.hold(leases=slots(2, "d")) is None  # the tenant's set is at 3 now
    assert await store.hold(leases=slots(3, "e")) == 1  # full: and user 3's set took nothing
    await store.release(leases=slots(1, "a"))
    assert await store.hold(leases=slots(3, "e")) is None
    await store.release(leases=slots(3, "e"))
    assert await store.hold(leases=slots(3, "f")) is None
    assert await store.hold(leases=[]) is None


async def test_a_members_budget_is_held_with_the_tenants_all_or_nothing(store: LimitStore) -> None:
    prefix = ns()
    tenant, member = budget(prefix), budget(f"{prefix}:user:7")
    await store.seed(keys=tenant, used=0, ttl_s=3600)
    window = [RateLimit("user_per_minute", f"{prefix}:rate:u7", 100, 60)]

    def both(tokens: int) -> tuple[BudgetClaim, BudgetClaim]:
        return BudgetClaim("budget", tenant, tokens, budget=1000, ttl_s=60), BudgetClaim(
            "user_budget", member, tokens, budget=100, ttl_s=60
        )

    tenant_claim, member_claim = both(60)
    unseeded = await store.admit(limits=window, lease=lease(prefix), claims=[tenant_claim, member_claim])
    assert unseeded.needs_seed and unseeded.seed == member
    await store.seed(keys=member, used=10, ttl_s=3600)
    held = lease(prefix)
    first = await store.admit(limits=window, lease=held, claims=[tenant_claim, member_claim])
    assert (first.admitted, first.held) == (True, ((0, 60), (10, 60)))
    # The member's budget refuses: nothing is taken from the tenant's, no rate, no slot.
    refused = await store.admit(limits=window, lease=lease(prefix, max_streams=2), claims=both(40))
    assert (refused.admitted, refused.refused_by, refused.used, refused.reserved) == (
        False,
        "user_budget",
        10,
        60,
    )
    await store.finish(lease=held, spent=[(tenant, 25), (member, 25)])  # both settled
    again = await store.admit(limits=window, lease=lease(prefix), claims=both(40))
    assert again.held == ((25, 40), (35, 40))


async def test_concurrent_reservations_never_overshoot_a_members_budget(store: LimitStore) -> None:
    prefix = ns()
    tenant, member = budget(prefix), budget(f"{prefix}:user:8")
    for keys in (tenant, member):
        await store.seed(keys=keys, used=0, ttl_s=3600)
    results = await asyncio.gather(
        *(
            store.admit(
                limits=[],
                lease=lease(prefix),
                claims=[
                    BudgetClaim("budget", tenant, 300, budget=1_000_000, ttl_s=60),
                    BudgetClaim("user_budget", member, 300, budget=1_000, ttl_s=60),
                ],
            )
            for _ in range(20)
        )
    )
    assert sum(r.admitted for r in results) == 3
    assert {r.refused_by for r in results if not r.admitted} == {"user_budget"}
