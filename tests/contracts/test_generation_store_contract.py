"""One contract, two generation stores: Redis (production) and in-process (embedded default)."""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chat.turns.store import GenerationInfo, GenerationStore, GenKey
from chat.turns.store.memory import MemoryGenerationStore
from chat.turns.store.redis import RedisGenerationStore
from infra.redis_topology import async_client, lean_client
from testkit.redis_deployments import topology_for


@pytest.fixture(params=["redis", "cluster", "memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[GenerationStore]:
    if request.param == "memory":
        yield MemoryGenerationStore()
        return
    topology = topology_for(request)
    client = async_client(topology)
    writer = lean_client(topology, timeout=5)
    yield RedisGenerationStore(client, writer, topology=topology)  # type: ignore[arg-type]
    await client.aclose()
    await writer.close()


def a_generation(*, user_id: int = 7, conversation_id: int = 3) -> GenerationInfo:
    key = GenKey(random.randrange(10**6, 10**9), random.randrange(1, 10**9))
    return GenerationInfo(
        key=key, user_id=user_id, conversation_id=conversation_id, client_id=str(uuid.uuid4())
    )


def token(seq: int) -> dict[str, Any]:
    return {"type": "token", "message_id": 1, "seq": seq, "content": f"t{seq} "}


async def test_a_client_id_is_claimed_once_and_then_points_to_its_generation(store: GenerationStore) -> None:
    info = a_generation()
    tenant, client_id = info.key.tenant_id, info.client_id
    first = await store.claim(tenant_id=tenant, client_id=client_id, user_id=7, ttl_s=30)
    assert (first.won, first.message_id) == (True, None)
    racers = await asyncio.gather(
        *(store.claim(tenant_id=tenant, client_id=client_id, user_id=7, ttl_s=30) for _ in range(20))
    )
    assert not any(claim.won for claim in racers)
    other_user = await store.claim(tenant_id=tenant, client_id=client_id, user_id=8, ttl_s=30)
    assert (other_user.won, other_user.user_id) == (False, 7)
    # The same client_id in another tenant is another claim.
    assert (await store.claim(tenant_id=tenant + 1, client_id=client_id, user_id=9, ttl_s=30)).won

    await store.begin(info=info, record="{}", lease_ttl_s=30, keep_s=60)
    again = await store.claim(tenant_id=tenant, client_id=client_id, user_id=7, ttl_s=30)
    assert (again.won, again.message_id) == (False, info.key.message_id)


async def test_a_released_claim_can_be_taken_again_but_only_by_its_owner_release(
    store: GenerationStore,
) -> None:
    tenant, client_id = random.randrange(10**6), str(uuid.uuid4())
    assert (await store.claim(tenant_id=tenant, client_id=client_id, user_id=1, ttl_s=30)).won
    await store.release(tenant_id=tenant, client_id=client_id, user_id=2)  # not theirs: no effect
    assert not (await store.claim(tenant_id=tenant, client_id=client_id, user_id=1, ttl_s=30)).won
    await store.release(tenant_id=tenant, client_id=client_id, user_id=1)
    assert (await store.claim(tenant_id=tenant, client_id=client_id, user_id=1, ttl_s=30)).won


async def test_frames_are_kept_in_order_read_after_an_entry_and_ended_by_a_marker(
    store: GenerationStore,
) -> None:
    info = a_generation()
    key = info.key
    await store.begin(info=info, record='{"x": 1}', lease_ttl_s=30, keep_s=60)
    await store.append([(key, {"type": "typing", "active": True}), (key, token(1)), (key, token(2))])
    entries = await store.read(key)
    assert [frame for _, frame in entries] == [{"type": "typing", "active": True}, token(1), token(2)]
    assert [frame for _, frame in await store.read(key, after=entries[1][0])] == [token(2)]
    stored = await store.info(key)
    assert stored is not None and (stored.finished, stored.user_id) == (False, 7)
    (listed,) = await store.resumable(tenant_id=key.tenant_id, conversation_id=3, user_id=7)
    assert listed.last_seq == 2
    assert await store.record(key) == '{"x": 1}'

    await store.finish(key=key, keep_s=60)
    tail = await store.read(key, after=entries[-1][0])
    assert [frame for _, frame in tail] == [None]  # the end marker
    finished = await store.info(key)
    assert finished is not None and finished.finished


async def test_follow_waits_for_the_next_frame(store: GenerationStore) -> None:
    info = a_generation()
    key = info.key
    await store.begin(info=info, record="{}", lease_ttl_s=30, keep_s=60)
    await store.append([(key, token(1))])
    (first, _), *_ = await store.read(key)
    assert await store.follow(key, after=first, block_s=0.1) == []
    waiting = asyncio.ensure_future(store.follow(key, after=first, block_s=10))
    await asyncio.sleep(0.05)
    await store.append([(key, token(2))])
    assert [frame for _, frame in await asyncio.wait_for(waiting, 10)] == [token(2)]


async def test_resumable_lists_only_that_users_generations_of_that_conversation(
    store: GenerationStore,
) -> None:
    mine = a_generation(user_id=1, conversation_id=5)
    tenant = mine.key.tenant_id
    theirs = GenerationInfo(
        key=GenKey(tenant, mine.key.message_id + 1), user_id=2, conversation_id=5, client_id="b"
    )
    elsewhere = GenerationInfo(
        key=GenKey(tenant, mine.key.message_id + 2), user_id=1, conversation_id=6, client_id="c"
    )
    other_tenant = GenerationInfo(
        key=GenKey(tenant + 1, mine.key.message_id + 3), user_id=1, conversation_id=5, client_id="d"
    )
    for info in (mine, theirs, elsewhere, other_tenant):
        await store.begin(info=info, record="{}", lease_ttl_s=30, keep_s=60)
    found = await store.resumable(tenant_id=tenant, conversation_id=5, user_id=1)
    assert [info.key for info in found] == [mine.key]


async def test_a_lease_that_is_not_renewed_lapses_and_is_taken_over_once(store: GenerationStore) -> None:
    renewed, lost = a_generation(), a_generation()
    for info in (renewed, lost):
        await store.begin(info=info, record="{}", lease_ttl_s=0.3, keep_s=60)
    for _ in range(4):
        await asyncio.sleep(0.1)
        await store.renew(keys=[renewed.key], lease_ttl_s=0.3)
    lapsed = await store.lapsed(limit=1000)
    assert lost.key in lapsed and renewed.key not in lapsed
    takers = await asyncio.gather(*(store.take(lost.key) for _ in range(10)))
    assert takers.count(True) == 1
    assert lost.key not in await store.lapsed(limit=1000)


async def test_a_finished_generation_holds_no_lease(store: GenerationStore) -> None:
    info = a_generation()
    await store.begin(info=info, record="{}", lease_ttl_s=0.1, keep_s=60)
    await store.finish(key=info.key, keep_s=60)
    await asyncio.sleep(0.2)
    assert info.key not in await store.lapsed(limit=1000)
    assert not await store.take(info.key)


async def test_everything_lapses_after_the_keep_time(store: GenerationStore) -> None:
    info = a_generation()
    await store.begin(info=info, record="{}", lease_ttl_s=30, keep_s=60)
    await store.append([(info.key, token(1))])
    await store.finish(key=info.key, keep_s=0.2)
    await asyncio.sleep(0.4)
    assert await store.info(info.key) is None
    assert await store.read(info.key) == []
    assert await store.resumable(tenant_id=info.key.tenant_id, conversation_id=3, user_id=7) == []
