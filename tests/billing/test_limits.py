"""Limits in the message path: rate limits, stream slots, budgets, the cost cap, Redis down."""

import asyncio
import dataclasses
import random
from decimal import Decimal
from typing import Any

import redis as redis_sync
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from billing import admission, selectors
from billing.limits.base import LimitStoreUnavailable
from billing.models import UsageRecord
from infra.keys import tenant_prefix
from tenants.models import Tenant, Tier
from tenants.selectors import forget_chat_configs, tenant_limits
from testkit.fake_openai import FakeOpenAI
from testkit.redis_deployments import OwnRedis
from testkit.world import World
from testkit.ws import TIMEOUT, ask, frames_until, open_chat, send_message


@database_sync_to_async
def set_tenant(tenant: Tenant, **fields: object) -> None:
    for name, value in fields.items():
        setattr(tenant, name, value)
    tenant.save()
    forget_chat_configs()


async def send_many(communicator, count: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """Send ``count`` short messages one after the other; the last frame of each."""
    results = []
    for _ in range(count):
        await send_message(communicator, "hi [[tokens=1]]")
        while True:
            frame = await communicator.receive_json_from(TIMEOUT)
            if frame["type"] in {"done", "error"}:
                results.append(frame)
                break
    return results


async def test_the_free_tier_allows_ten_messages_a_minute_then_says_when(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, _ = await open_chat(world.token(world.carol, world.globex))  # globex: Free
    results = await send_many(communicator, 11)
    assert [r["type"] for r in results] == ["done"] * 10 + ["error"]
    refusal = results[-1]
    assert refusal["code"] == "RATE_LIMITED" and refusal["limit"] in {"user_per_minute", "tenant_per_minute"}
    assert 5 <= refusal["retry_after"] <= 6.1
    assert len(fake_llm.calls) == 10  # the refused message never went upstream
    await communicator.disconnect()


def test_each_tier_sets_its_limits(seeded: None) -> None:
    expected = {
        "free": (10, 100, 1, 100_000),
        "professional": (30, 500, 3, 1_000_000),
        "enterprise": (60, 2000, 10, 10_000_000),
        "unlimited": (120, None, 25, None),
    }
    for slug, (per_minute, per_hour, streams, budget) in expected.items():
        limits = tenant_limits(Tenant(slug="x", name="x", tier=Tier.objects.get(slug=slug)))
        got = (limits.messages_per_minute, limits.messages_per_hour, limits.max_concurrent_streams)
        assert (*got, limits.monthly_token_budget) == (per_minute, per_hour, streams, budget)


async def test_one_tenant_at_its_limit_leaves_another_untouched(world: World, fake_llm: FakeOpenAI) -> None:
    await set_tenant(world.acme, messages_per_minute_override=3)
    acme, _ = await open_chat(world.token(world.alice, world.acme))
    assert [r["type"] for r in await send_many(acme, 4)] == ["done"] * 3 + ["error"]
    globex, _ = await open_chat(world.token(world.carol, world.globex))
    assert [r["type"] for r in await send_many(globex, 3)] == ["done"] * 3
    await acme.disconnect()
    await globex.disconnect()


async def test_the_per_user_limit_and_the_global_limit(world: World, fake_llm: FakeOpenAI, settings) -> None:  # type: ignore[no-untyped-def]
    await set_tenant(world.acme, user_messages_per_minute=2)
    alice, _ = await open_chat(world.token(world.alice, world.acme))
    results = await send_many(alice, 3)
    assert results[-1]["limit"] == "user_per_minute"
    bob, _ = await open_chat(world.token(world.bob, world.acme))
    assert [r["type"] for r in await send_many(bob, 2)] == ["done", "done"]

    settings.GLOBAL_MESSAGES_PER_MINUTE = 1
    carol, _ = await open_chat(world.token(world.carol, world.globex))
    results = await send_many(carol, 2)
    assert results[0]["type"] == "done" and results[1]["limit"] == "global_per_minute"
    for communicator in (alice, bob, carol):
        await communicator.disconnect()


async def test_concurrent_streams_are_capped_per_tenant(world: World, fake_llm: FakeOpenAI) -> None:
    first, _ = await open_chat(world.token(world.carol, world.globex))  # Free: one stream
    await send_message(first, "long [[tokens=300]] [[delay=0.01]]")
    await frames_until(first, "token")
    second, _ = await open_chat(world.token(world.carol, world.globex))
    await send_message(second, "me too [[tokens=2]]")
    refusal = await second.receive_json_from(TIMEOUT)
    assert refusal["code"] == "TOO_MANY_STREAMS"
    await first.send_json_to({"type": "cancel"})
    await frames_until(first, "done")
    # The slot was released before `done` was sent.
    await send_message(second, "now [[tokens=2]]")
    assert (await frames_until(second, "done"))[-1]["finish_reason"] == "stop"
    await first.disconnect()
    await second.disconnect()


async def test_the_monthly_budget_refuses_with_the_reset_date(world: World, fake_llm: FakeOpenAI) -> None:
    await set_tenant(world.acme, monthly_token_budget_override=1100)  # max_tokens is 1024
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    first = await ask(communicator, "spend [[tokens=20]]")
    assert first[-1]["type"] == "done"
    await send_message(communicator, "again")
    refusal = await communicator.receive_json_from(TIMEOUT)
    assert refusal["code"] == "BUDGET_EXCEEDED"
    assert "of its 1,100 tokens" in refusal["message"] and "resets on 1 " in refusal["message"]
    assert "higher tier than Professional" in refusal["message"] and refusal["retry_after"] > 0
    await communicator.disconnect()


@database_sync_to_async
def add_usage(tenant: Tenant, user: object, tokens: int) -> None:
    UsageRecord.objects.create(
        tenant=tenant, user=user, model="gpt-4o-mini", input_tokens=tokens, output_tokens=0
    )


async def test_a_flushed_redis_keeps_the_months_usage(world: World, fake_llm: FakeOpenAI) -> None:
    await set_tenant(world.acme, monthly_token_budget_override=50_000)
    await add_usage(world.acme, world.alice, 49_500)  # the ledger: most of the budget is gone
    redis_sync.Redis.from_url(django_settings.REDIS_URL).flushdb()
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    await send_message(communicator, "anything")
    refusal = await communicator.receive_json_from(TIMEOUT)
    assert refusal["code"] == "BUDGET_EXCEEDED" and "49,500 of its 50,000" in refusal["message"]
    await communicator.disconnect()


async def test_fifty_concurrent_streams_at_the_edge_overshoot_by_at_most_one_answer(world: World) -> None:
    """At the edge of the budget, concurrent admissions are all decided atomically."""
    max_tokens, budget = 1000, 20_000
    await set_tenant(
        world.acme,
        monthly_token_budget_override=budget,
        max_concurrent_streams_override=100,
        messages_per_minute_override=1000,
    )
    await add_usage(world.acme, world.alice, budget - 3_500)
    limits = tenant_limits(
        await database_sync_to_async(lambda: Tenant.objects.select_related("tier").get(pk=world.acme.pk))()
    )

    async def one() -> int:
        try:
            ticket = await admission.admit(
                tenant_id=world.acme.pk,
                user_id=world.alice.pk,
                limits=limits,
                allowance=admission.Spend(tokens=200 + max_tokens, cost_usd=Decimal(0)),
            )
        except admission.Refusal:
            return 0
        await asyncio.sleep(0.05)  # "streaming"
        used = 200 + max_tokens  # the worst case: every answer runs to its max tokens
        await admission.finish(ticket, spent=admission.Spend(tokens=used, cost_usd=Decimal(0)))
        return used

    spent = sum(await asyncio.gather(*(one() for _ in range(50))))
    assert spent > 0
    assert budget - 3_500 + spent <= budget + max_tokens


@database_sync_to_async
def ledger_tokens(tenant: Tenant) -> int:
    return sum(r.input_tokens + r.output_tokens for r in UsageRecord.objects.for_tenant(tenant))


async def test_fifty_concurrent_streams_through_the_socket_stay_within_one_answer(
    world: World, fake_llm: FakeOpenAI
) -> None:
    max_tokens, budget = 100, 60_000
    await set_tenant(
        world.acme,
        monthly_token_budget_override=budget,
        max_concurrent_streams_override=100,
        messages_per_minute_override=1000,
        max_tokens_per_response=max_tokens,
        max_sockets_per_user_override=50,
    )
    await add_usage(world.acme, world.alice, budget - 1_000)  # room for a handful of answers
    sockets = [(await open_chat(world.token(world.alice, world.acme)))[0] for _ in range(50)]
    for communicator in sockets:
        await send_message(communicator, "go [[tokens=100]] [[delay=0.005]]")
    outcomes = []
    for communicator in sockets:
        while True:
            frame = await communicator.receive_json_from(TIMEOUT)
            if frame["type"] in {"done", "error"}:
                outcomes.append(frame.get("code", frame["type"]))
                break
    assert 0 < outcomes.count("done") < 50 and set(outcomes) <= {"done", "BUDGET_EXCEEDED"}
    assert await ledger_tokens(world.acme) <= budget + max_tokens
    for communicator in sockets:
        await communicator.disconnect()


async def conversation_cost(world: World, conversation_id: int) -> Decimal:
    return await database_sync_to_async(selectors.conversation_cost)(
        tenant_id=world.acme.pk, conversation_id=conversation_id
    )


async def test_concurrent_answers_never_pass_a_conversations_cost_cap(
    world: World, fake_llm: FakeOpenAI
) -> None:
    """Each answer holds the most it may cost (1,000 output tokens at $0.60/1M, and its prompt)
    against the cap before the model is called: six answers at once in one conversation, each
    writing its maximum, stay within the cap; the refused ones say why."""
    cap = Decimal("0.0015")
    await set_tenant(
        world.acme,
        conversation_cost_cap_usd=cap,
        max_tokens_per_response=1000,
        max_concurrent_streams_override=100,
        messages_per_minute_override=1000,
    )
    opener, ready = await open_chat(world.token(world.alice, world.acme))
    assert (await ask(opener, "hello [[tokens=2]] [[delay=0]]"))[-1]["type"] == "done"
    path = f"/ws/chat/{ready['conversation_id']}/"
    sockets = [(await open_chat(world.token(world.alice, world.acme), path))[0] for _ in range(6)]
    for communicator in sockets:
        await send_message(communicator, "tell me everything [[tokens=1000]] [[delay=0.02]]")
    endings = [(await frames_until(communicator, "done", "error"))[-1] for communicator in sockets]
    answered = [frame for frame in endings if frame["type"] == "done"]
    refused = [frame for frame in endings if frame["type"] == "error"]
    assert answered and refused
    assert {frame["code"] for frame in refused} == {"CONVERSATION_BUDGET_EXCEEDED"}
    assert "USD cap" in refused[0]["message"] and "start a new conversation" in refused[0]["message"]
    assert all(frame["usage"]["output_tokens"] == 1000 for frame in answered)  # each wrote its most
    assert await conversation_cost(world, ready["conversation_id"]) <= cap
    # Settled to what they cost: the next message is refused too (the cap is nearly spent).
    await send_message(opener, "one more [[tokens=1000]]")
    assert (await opener.receive_json_from(TIMEOUT))["code"] == "CONVERSATION_BUDGET_EXCEEDED"
    for communicator in [opener, *sockets]:
        await communicator.disconnect()
    # A new conversation starts from zero.
    fresh, _ = await open_chat(world.token(world.alice, world.acme))
    assert (await ask(fresh, "hello [[tokens=2]]"))[-1]["type"] == "done"
    await fresh.disconnect()


async def test_a_conversations_cost_counters_are_rebuilt_from_the_ledger(
    world: World, fake_llm: FakeOpenAI
) -> None:
    """Lost counters (a Redis flush) start from what the conversation cost, never from zero."""
    await set_tenant(world.acme, conversation_cost_cap_usd=Decimal("0.0012"), max_tokens_per_response=1000)
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    assert (await ask(communicator, "long [[tokens=1000]] [[delay=0]]"))[-1]["type"] == "done"
    redis_sync.Redis.from_url(django_settings.REDIS_URL).delete(
        admission.conversation_cost_keys(
            tenant_id=world.acme.pk, conversation_id=ready["conversation_id"]
        ).counters
    )
    await send_message(communicator, "again [[tokens=1000]]")
    refusal = await communicator.receive_json_from(TIMEOUT)
    assert refusal["code"] == "CONVERSATION_BUDGET_EXCEEDED"
    spent = await conversation_cost(world, ready["conversation_id"])
    assert f"has cost {spent:.4f} USD" in refusal["message"]
    await communicator.disconnect()


async def test_redis_down_fails_closed_and_service_resumes_by_itself(
    world: World, fake_llm: FakeOpenAI, own_redis: OwnRedis
) -> None:
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    assert (await ask(communicator, "before [[tokens=2]]"))[-1]["type"] == "done"
    own_redis.stop()
    await send_message(communicator, "during [[tokens=2]]")
    refusal = await communicator.receive_json_from(TIMEOUT)
    assert refusal["code"] == "SERVICE_UNAVAILABLE" and refusal["retry_after"] > 0
    calls = len(fake_llm.calls)
    own_redis.start()  # back up, empty, as after a restart: the same connection goes on
    assert (await ask(communicator, "after [[tokens=2]]"))[-1]["type"] == "done"
    assert len(fake_llm.calls) == calls + 1
    await communicator.disconnect()


async def test_every_redis_key_names_its_tenant(world: World, fake_llm: FakeOpenAI, settings) -> None:  # type: ignore[no-untyped-def]
    redis_sync.Redis.from_url(django_settings.REDIS_URL).flushdb()
    settings.GLOBAL_MESSAGES_PER_MINUTE = 1000
    for user, tenant in [(world.alice, world.acme), (world.bob, world.acme), (world.carol, world.globex)]:
        communicator, _ = await open_chat(world.token(user, tenant))
        await ask(communicator, "hello [[tokens=2]]")
        await communicator.disconnect()
    keys = [key.decode() for key in redis_sync.Redis.from_url(django_settings.REDIS_URL).keys("*")]
    tenant_ids = {str(world.acme.pk), str(world.globex.pk)}
    assert any(key.startswith("global:") for key in keys)
    # Each tenant's keys carry it as their cluster hash tag: t:{42}:...
    assert {key.split(":")[1].strip("{}") for key in keys if key.startswith("t:{")} == tenant_ids
    assert [key for key in keys if key.startswith("t:") and not key.startswith("t:{")] == []
    celery_own = ("celery", "_kombu.", "unacked")  # the broker's queues, also on this Redis
    assert [key for key in keys if not key.startswith(("t:", "global:", *celery_own))] == []


class CancelSwallowingStore:
    """The real Redis limit store, except that a cancel landing inside ``renew`` comes out as an
    outage, as a cancel inside a redis-py call sometimes does (a connection error)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def renew(self, *, lease: Any) -> None:
        try:
            await self._store.renew(lease=lease)
        except asyncio.CancelledError:
            raise LimitStoreUnavailable("connection closed while reading") from None


async def test_a_thousand_cancelled_renewers_all_stop(world: World, settings: Any) -> None:
    """The end of an answer stops its slot's renewer every time, wherever the renewer is (asleep,
    or inside a Redis call whose cancel is swallowed), and never waits on it for long."""
    settings.STREAM_LEASE_TTL_S = 0.03  # a renewal every 10 ms: most ends land mid-renewal
    limits = tenant_limits(await Tenant.objects.select_related("tier").aget(pk=world.acme.pk))
    limits = dataclasses.replace(limits, messages_per_minute=10**6, user_messages_per_minute=10**6,
                                 messages_per_hour=None, max_concurrent_streams=10**6,
                                 monthly_token_budget=None)  # fmt: skip
    left_renewing = 0
    for trial in range(1000):
        ticket = await admission.admit(
            tenant_id=world.acme.pk, user_id=trial, limits=limits, allowance=admission.NOTHING_SPENT
        )
        assert ticket is not None
        if trial % 2:
            ticket.store = CancelSwallowingStore(ticket.store)  # type: ignore[assignment]
            ticket.renewer.cancel()
            ticket.renewer = asyncio.ensure_future(
                admission._keep_renewed(ticket.store, ticket.lease, ticket.released)
            )
        await asyncio.sleep(random.uniform(0, 0.02))
        await admission.finish(ticket, spent=admission.NOTHING_SPENT)
        left_renewing += not ticket.renewer.done()
    assert left_renewing == 0
    slots = redis_sync.Redis.from_url(django_settings.REDIS_URL).zcard(
        f"{tenant_prefix(world.acme.pk)}:streams"
    )
    assert slots == 0  # every slot was released
