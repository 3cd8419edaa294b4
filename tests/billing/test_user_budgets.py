"""A member's own monthly token budget inside the tenant's: held in the same atomic admission
call, never overshot under concurrency, a notice once at 80 %, ``BUDGET_EXCEEDED`` with
``limit: "user"`` at the end; members see their own usage, admins set each member's budget."""

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from django.db.models import F, Sum

from billing.models import UsageRecord
from tenants.models import Membership, Tenant
from tenants.selectors import forget_chat_configs
from testkit.fake_openai import FakeOpenAI
from testkit.worker import CeleryWorker
from testkit.world import World, client_for, reconfigure
from testkit.ws import TIMEOUT, frames_until, open_chat, send_message

MAX_TOKENS = 100


@database_sync_to_async
def tokens_of(world: World, user: Any) -> int:
    total = (
        UsageRecord.objects.for_tenant(world.acme.pk)
        .filter(user=user, purpose="answer")  # what a member's budget counts (not titles, summaries)
        .aggregate(t=Sum(F("input_tokens") + F("output_tokens")))["t"]
    )
    return int(total or 0)


async def test_a_member_is_warned_once_then_refused_and_the_budget_holds(
    world: World, fake_llm: FakeOpenAI, celery_worker: CeleryWorker
) -> None:
    world.alice.email = "alice@acme.test"
    await database_sync_to_async(world.alice.save)()
    await reconfigure(world.acme, member_monthly_token_budget=600, max_tokens_per_response=MAX_TOKENS)
    # Bob spent 420 tokens earlier this month (the ledger seeds his counters): the first message
    # takes him past 80 %.
    await UsageRecord.objects.for_tenant(world.acme.pk).acreate(
        tenant=world.acme, user=world.bob, model="gpt-4o-mini", input_tokens=400, output_tokens=20, cost_usd=0
    )
    bob, _ = await open_chat(world.token(world.bob, world.acme))
    notices, refusal = [], None
    for n in range(12):
        await send_message(bob, f"question {n} [[tokens=20]]")
        frames = await frames_until(bob, "done", "error")
        notices += [f for f in frames if f["type"] == "notice"]
        if frames[-1]["type"] == "error":
            refusal = frames[-1]
            break
    assert refusal is not None and refusal["code"] == "BUDGET_EXCEEDED" and refusal["limit"] == "user"
    if not notices:  # pushed through the channel layer, not the answer's path: it may come later
        notices = (await frames_until(bob, "notice"))[-1:]
    assert len(notices) == 1 and "of your 600 tokens" in notices[0]["text"]
    assert await tokens_of(world, world.bob) <= 600
    # The owners and admins are told once (by the worker: the file e-mail backend).
    await asyncio.to_thread(celery_worker.wait_idle)
    sent = [p.read_text() for p in celery_worker.mail_dir.glob("*.log")]
    warnings = [m for m in sent if "bob has used" in m]
    assert len(warnings) == 1 and "alice@acme.test" in warnings[0]
    # Each member has their own allowance (the tenant's default here): alice still chats.
    alice, _ = await open_chat(world.token(world.alice, world.acme))
    await send_message(alice, "hello [[tokens=2]]")
    assert (await frames_until(alice, "done", "error"))[-1]["type"] == "done"
    for socket in (bob, alice):
        await socket.disconnect()

    me = await database_sync_to_async(client_for(world.token(world.bob, world.acme)).get)("/api/v1/usage/me/")
    usage = me.json()
    assert usage["monthly_token_budget"] == 600 and usage["tokens_used"] == await tokens_of(world, world.bob)
    assert usage["tokens_left"] == 600 - usage["tokens_used"]


async def test_twenty_concurrent_streams_of_one_member_never_overshoot(
    world: World, fake_llm: FakeOpenAI
) -> None:
    await database_sync_to_async(Tenant.objects.filter(pk=world.acme.pk).update)(
        max_concurrent_streams_override=50,
        messages_per_minute_override=500,
        max_tokens_per_response=MAX_TOKENS,
    )
    forget_chat_configs()
    owner = client_for(world.token(world.alice, world.acme))
    membership = await Membership.objects.for_tenant(world.acme.pk).aget(user=world.bob)
    patched = await database_sync_to_async(owner.patch)(
        f"/api/v1/tenants/acme/members/{membership.pk}/", {"monthly_token_budget": 1000}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["monthly_token_budget"] == 1000
    sockets = [(await open_chat(world.token(world.bob, world.acme)))[0] for _ in range(20)]
    await asyncio.gather(
        *(send_message(s, f"at once {n} [[tokens=40]] [[delay=0.01]]") for n, s in enumerate(sockets))
    )
    ends = await asyncio.gather(*(frames_until(s, "done", "error") for s in sockets))
    answered = [e[-1] for e in ends if e[-1]["type"] == "done"]
    refused = [e[-1] for e in ends if e[-1]["type"] == "error"]
    assert answered and refused and {r["limit"] for r in refused} == {"user"}
    assert await tokens_of(world, world.bob) <= 1000  # every answer fit in what it reserved
    for socket in sockets:
        await socket.disconnect()
    # The budget is the member's own: alice (no budget of hers) is not refused.
    alice, _ = await open_chat(world.token(world.alice, world.acme))
    await send_message(alice, "fine [[tokens=2]]")
    assert (await alice.receive_json_from(TIMEOUT))["type"] in {"typing", "token"}
    await alice.disconnect()
