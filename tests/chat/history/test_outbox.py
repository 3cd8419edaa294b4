"""The outbox of turns the database could not take: one contract for both stores (Redis, and
in-process for the embedded default), and the replay that writes each turn exactly once."""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from billing.models import UsageRecord
from billing.pricing import Price
from chat.gateway.llm import ChatRequest, Usage
from chat.history.ids import allocate_message_ids
from chat.history.outbox import MemoryOutbox, Outbox, RedisOutbox, get_outbox
from chat.history.recorder import turn_recorder
from chat.models import Conversation, Message
from chat.turn import Outcome, PreparedTurn
from chat.turns.reaper import reap, turn_record
from chat.turns.store import GenerationInfo, GenKey
from chat.turns.store.memory import MemoryGenerationStore
from infra.hot_redis import hot_redis
from infra.keys import tenant_prefix
from infra.redis_topology import async_client
from testkit.redis_deployments import topology_for
from testkit.world import World


@pytest.fixture(params=["redis", "cluster", "memory"])
async def box(request: pytest.FixtureRequest) -> AsyncIterator[Outbox]:
    if request.param == "memory":
        yield MemoryOutbox()
        return
    client = async_client(topology_for(request))
    yield RedisOutbox(client)  # type: ignore[arg-type]
    await client.aclose()


def a_turn(
    *, tenant_id: int, conversation_id: int = 1, user_id: int = 1, ids: tuple[int, int] | None = None
) -> tuple[PreparedTurn, Outcome]:
    user_message_id, answer_message_id = ids or (random.randrange(10**9), random.randrange(10**9))
    turn = PreparedTurn(
        tenant_id=tenant_id,
        tenant_slug="t",
        user_id=user_id,
        conversation_id=conversation_id,
        user_message_id=user_message_id,
        answer_message_id=answer_message_id,
        client_id=uuid.uuid4(),
        content="Où est ma commande ? \N{PACKAGE}",
        request=ChatRequest(model="gpt-4o-mini", messages=[], max_tokens=100, temperature=0.2, end_user="u"),
        price=Price(Decimal("0.15"), Decimal("0.60"), None),
        route="simple",
        message_count=4,
    )
    outcome = Outcome(
        text="Elle arrive demain.",
        finish_reason="stop",
        usage=Usage(input_tokens=12, output_tokens=5),
        cost_usd=Decimal("0.00000480"),
        ttft_ms=40,
        latency_ms=300,
    )
    return turn, outcome


async def test_turns_wait_per_tenant_and_come_back_as_they_went_in(box: Outbox) -> None:
    acme, globex = random.randrange(10**6, 10**9), random.randrange(10**6, 10**9)
    first, second, other = a_turn(tenant_id=acme), a_turn(tenant_id=acme), a_turn(tenant_id=globex)
    await box.put([first, second, other])
    assert {acme, globex} <= set(await box.tenants())
    entries = await box.read(acme, 10)
    assert [turn for _, turn in entries] == [first, second]  # in order, and only acme's
    assert [turn for _, turn in await box.read(globex, 10)] == [other]


async def test_one_replayer_per_tenant_at_a_time(box: Outbox) -> None:
    tenant = random.randrange(10**6, 10**9)
    token = await box.lock(tenant)
    assert token is not None
    assert await box.lock(tenant) is None
    assert await box.lock(tenant + 1) is not None  # another tenant's outbox is another lock
    await box.unlock(tenant, token)
    assert await box.lock(tenant) is not None


async def test_removed_turns_are_gone_and_an_empty_tenant_is_forgotten(box: Outbox) -> None:
    tenant = random.randrange(10**6, 10**9)
    await box.put([a_turn(tenant_id=tenant) for _ in range(3)])
    (written, _), (dead, dead_turn), (left, _) = await box.read(tenant, 10)
    await box.remove(tenant, [written], dead=[(dead, dead_turn)])
    assert [entry_id for entry_id, _ in await box.read(tenant, 10)] == [left]
    assert tenant in await box.tenants()
    await box.remove(tenant, [left])
    assert await box.read(tenant, 10) == []
    assert tenant not in await box.tenants()


async def test_the_outbox_knows_which_answers_it_holds(box: Outbox) -> None:
    tenant = random.randrange(10**6, 10**9)
    turns = [a_turn(tenant_id=tenant) for _ in range(3)]
    await box.put(turns)
    answer_id = turns[2][0].answer_message_id
    assert await box.holds(tenant, answer_id)
    assert not await box.holds(tenant + 1, answer_id)  # another tenant's outbox
    assert not await box.holds(tenant, answer_id + 1)
    await box.remove(tenant, [entry_id for entry_id, _ in await box.read(tenant, 10)])
    assert not await box.holds(tenant, answer_id)


async def test_a_replayed_turn_is_written_once_however_often_it_is_replayed(world: World) -> None:
    conversation = await Conversation.all_tenants.acreate(tenant=world.acme, user=world.alice)
    user_message_id, answer_message_id = await sync_to_async(allocate_message_ids)(2)
    turn = a_turn(
        tenant_id=world.acme.pk,
        conversation_id=conversation.pk,
        user_id=world.alice.pk,
        ids=(user_message_id, answer_message_id),
    )
    # Put twice: a turn deferred, then again by another instance after a lost acknowledgement.
    await get_outbox().put([turn])
    assert await turn_recorder().replay() is False
    await get_outbox().put([turn])
    await asyncio.gather(turn_recorder().replay(), turn_recorder().replay())  # racing replayers

    answers = Message.objects.for_tenant(world.acme.pk).filter(conversation=conversation)
    assert [m.content async for m in answers.order_by("id")] == [turn[0].content, "Elle arrive demain."]
    assert (
        await UsageRecord.objects.for_tenant(world.acme.pk).filter(message_id=answer_message_id).acount() == 1
    )
    await conversation.arefresh_from_db()
    assert conversation.message_count == 2
    assert await get_outbox().read(world.acme.pk, 10) == []
    assert await hot_redis().xlen(f"{tenant_prefix(world.acme.pk)}:outbox:dead") == 0  # skipped, not failed


async def test_a_dead_instances_deferred_answer_is_kept_not_reaped_as_an_error(world: World) -> None:
    """An instance put the finished turn in the outbox (the database away) and died before it
    closed the generation: the reaper must not store its own ``error`` version first."""
    conversation = await Conversation.all_tenants.acreate(tenant=world.acme, user=world.alice)
    user_message_id, answer_message_id = await sync_to_async(allocate_message_ids)(2)
    turn, outcome = a_turn(
        tenant_id=world.acme.pk,
        conversation_id=conversation.pk,
        user_id=world.alice.pk,
        ids=(user_message_id, answer_message_id),
    )
    store, key = MemoryGenerationStore(), GenKey(world.acme.pk, answer_message_id)
    info = GenerationInfo(key=key, user_id=world.alice.pk, conversation_id=conversation.pk, client_id="c1")
    await store.begin(
        info=info, record=turn_record(turn, None, prompt_tokens=12), lease_ttl_s=0.0, keep_s=60.0
    )
    await get_outbox().put([(turn, outcome)])

    await reap(store, key)
    assert await turn_recorder().replay() is False
    answer = await Message.objects.for_tenant(world.acme.pk).aget(pk=answer_message_id)
    assert (answer.content, answer.finish_reason) == ("Elle arrive demain.", "stop")
    assert (
        await UsageRecord.objects.for_tenant(world.acme.pk).filter(message_id=answer_message_id).acount() == 1
    )
