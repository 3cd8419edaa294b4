"""The chat path with its hot state on a Redis Cluster (``redis_cluster``: three masters, a third
of the slots each, answering ``MOVED`` and ``CROSSSLOT`` as any cluster does): limits, stream
slots, budgets, the claim, the generation and its resume after a reconnect, the exact cache and
working memory, all through the WebSocket against the fake OpenAI server. Each tenant's keys
carry it as their hash tag (``t:{42}:``); nothing of a tenant's is written outside its slot."""

import json
import uuid
from typing import Any

import pytest
from redis.cluster import RedisCluster

from billing.models import UsageRecord
from chat.models import Message
from infra.db import in_db_thread
from testkit.fake_openai import FakeOpenAI
from testkit.redis_deployments import OwnRedisCluster
from testkit.world import World, reconfigure
from testkit.ws import TIMEOUT, ask, frames_until, open_chat, send_message, streamed_text


@pytest.fixture
def on_cluster(redis_cluster: OwnRedisCluster, settings: Any) -> RedisCluster:
    settings.REDIS_URL, settings.REDIS_CLUSTER_NODES = redis_cluster.url, redis_cluster.setting
    redis_cluster.flush()
    return redis_cluster.client()


@in_db_thread
def stored(conversation_id: int) -> tuple[list[str], int]:
    messages = Message.all_tenants.filter(conversation_id=conversation_id).order_by("id")
    usage = UsageRecord.all_tenants.filter(conversation_id=conversation_id).count()
    return [m.content for m in messages], usage


async def test_the_chat_path_runs_on_a_redis_cluster(
    world: World, fake_llm: FakeOpenAI, on_cluster: RedisCluster
) -> None:
    await reconfigure(world.acme, exact_cache_enabled=True, conversation_cost_cap_usd=5)
    token = world.token(world.alice, world.acme)
    communicator, ready = await open_chat(token)
    first = (await ask(communicator, "What are your opening hours? [[tokens=4]]"))[-1]
    assert first["type"] == "done"
    # The same question in another conversation: the exact cache answers it.
    other, _ = await open_chat(token)
    cached = await ask(other, "What are your opening hours? [[tokens=4]]")
    assert cached[0]["type"] == "response" and cached[0]["cached"] is True
    await other.disconnect()
    # Regenerated in place: working memory emptied, then refilled for the next message.
    frame = {
        "type": "message",
        "content": "What are your opening hours? [[tokens=4]]",
        "client_id": str(uuid.uuid4()),
        "regenerate": True,
        "replaces": first["message_id"],
    }
    await communicator.send_to(text_data=json.dumps(frame))
    assert (await frames_until(communicator, "done", "error"))[-1]["type"] == "done"
    await ask(communicator, "And on Sundays? [[tokens=3]]")
    assert [m["role"] for m in fake_llm.calls[-1].messages] == ["system", "user", "assistant", "user"]

    # A long answer left mid-stream and resumed from another socket: every frame once.
    await send_message(communicator, "long one [[tokens=40]] [[delay=0.02]]")
    seen = [f for f in await frames_until(communicator, "token") if f["type"] == "token"]
    await communicator.disconnect()
    again, ready_again = await open_chat(token, f"/ws/chat/{ready['conversation_id']}/")
    message_id = seen[0]["message_id"]
    assert message_id in [g["message_id"] for g in ready_again["resumable"]]
    await again.send_json_to({"type": "resume", "message_id": message_id, "after": seen[-1]["seq"]})
    rest = await frames_until(again, "done")
    await again.disconnect()
    contents, usage = await stored(ready["conversation_id"])
    assert contents[-1] == streamed_text(seen) + streamed_text(rest) == "".join(f"tok{i} " for i in range(40))
    assert usage == 4  # the first answer, its regeneration, Sundays, the long one

    keys = [key.decode() for key in on_cluster.keys("*", target_nodes=RedisCluster.PRIMARIES)]
    tenant_keys = [key for key in keys if key.startswith("t:")]
    assert tenant_keys and all(key.startswith(f"t:{{{world.acme.pk}}}:") for key in tenant_keys)
    assert {key.split(":")[2] for key in tenant_keys} >= {"rate", "budget", "claim", "gen", "cache", "conv"}
    assert [key for key in keys if not key.startswith(("t:", "global:"))] == []


async def test_a_refused_message_gives_the_platforms_window_back(
    world: World, fake_llm: FakeOpenAI, on_cluster: RedisCluster, settings: Any
) -> None:
    """The platform's window is taken apart from the tenant's keys (another slot) and given back
    when the tenant's own limit refuses the message."""
    settings.GLOBAL_MESSAGES_PER_MINUTE = 2
    await reconfigure(world.acme, user_messages_per_minute=1)
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    assert (await ask(communicator, "one [[tokens=2]]"))[-1]["type"] == "done"
    await send_message(communicator, "two [[tokens=2]]")
    refused = await communicator.receive_json_from(TIMEOUT)
    assert (refused["code"], refused["limit"]) == ("RATE_LIMITED", "user_per_minute")
    await communicator.disconnect()
    # The refused message took nothing: Bob has the platform's second message.
    bobs, _ = await open_chat(world.token(world.bob, world.acme))
    assert (await ask(bobs, "three [[tokens=2]]"))[-1]["type"] == "done"
    await send_message(bobs, "four [[tokens=2]]")
    assert (await bobs.receive_json_from(TIMEOUT))["limit"] == "global_per_minute"
    await bobs.disconnect()
