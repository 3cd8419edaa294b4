"""A failover under load (issue 35): the platform on a master and a replica watched by three
Sentinels (``REDIS_SENTINELS`` only: no ``REDIS_URL``), 50 answers streaming from five tenants,
and the master killed (SIGKILL). While the Sentinels promote the replica a new message is
refused with ``SERVICE_UNAVAILABLE`` and ``retry_after`` (its limits cannot be checked: never
skipped, never a 500); every answer in flight finishes; each is stored once and billed once;
the stream slots taken before the failover are all free again on the new master; and the
platform, reconnected by itself, answers new messages there."""

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import redis

from infra.keys import tenant_prefix
from testkit.fake_openai import FakeOpenAI
from testkit.live import LivePlatform, start_platform
from testkit.live_ws import frames_until, member, open_chat, send
from testkit.redis_deployments import OwnSentinels
from testkit.worker import wait_for

TENANTS, PER_TENANT = 5, 10
LONG = "Tell me everything [[tokens=80]] [[delay=0.05]]"  # about 4 s of streaming


@pytest.fixture(scope="module")
def sentinels() -> Iterator[OwnSentinels]:
    deployment = OwnSentinels()
    deployment.start()
    yield deployment
    deployment.stop()


@pytest.fixture(scope="module")
def platform(
    sentinels: OwnSentinels, fake_openai_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LivePlatform]:
    running = start_platform(
        "production",
        tmp_path=tmp_path_factory.mktemp("sentinel"),
        llm_url=fake_openai_server.url,
        extra_env={
            "REDIS_URL": "",
            "REDIS_SENTINELS": sentinels.setting,
            "REDIS_SENTINEL_MASTER": OwnSentinels.MASTER,
            "CHANNEL_LAYER_PREFIX": f"sentinel-{uuid.uuid4().hex[:8]}",
        },
    )
    yield running
    running.stop()


def live_slots(port: int, tenant_id: int) -> int:
    """Stream slots held now in the tenant's lease set, on the Redis at ``port``."""
    client = redis.Redis(port=port)
    seconds, micros = client.time()
    now_ms = seconds * 1000 + micros // 1000
    return int(client.zcount(f"{tenant_prefix(tenant_id)}:streams", now_ms, "+inf"))


async def test_a_sentinel_failover_while_fifty_answers_stream(
    platform: LivePlatform, sentinels: OwnSentinels
) -> None:
    members = [member(platform, tier="unlimited") for _ in range(TENANTS)]
    tenant_ids = []
    for slug, *_ in members:
        row = platform.sql("SELECT id FROM tenants_tenant WHERE slug = %s", [slug])
        assert row is not None
        tenant_ids.append(row[0])
    sockets, probes = [], []
    for *_, token in members:
        sockets += [(await open_chat(platform, token))[0] for _ in range(PER_TENANT)]
        probes.append((await open_chat(platform, token))[0])
    client_ids = [await send(ws, LONG) for ws in sockets]
    # Every answer has begun (its slot taken, its first frames mirrored) before the kill.
    firsts = await asyncio.gather(*(frames_until(ws, "token", timeout=60) for ws in sockets))
    assert all(frames[-1]["type"] == "token" for frames in firsts)
    old_master = sentinels.master.port
    # The platform's hot state is on the Sentinels' master: each answer holds a slot there.
    assert [live_slots(old_master, t) for t in tenant_ids] == [PER_TENANT] * TENANTS
    sentinels.kill_master()

    # During the failover: refused, fail closed, with a time to come back (or answered, if the
    # Sentinels had promoted the replica already).
    await send(probes[0], "Are you there? [[tokens=2]]")
    probe = (await frames_until(probes[0], "error", "done", timeout=60))[-1]
    if probe["type"] == "done":
        assert sentinels.master_port() != old_master
    else:
        assert probe["code"] == "SERVICE_UNAVAILABLE", probe
        assert probe["retry_after"] >= 1

    # Every answer in flight finishes.
    ends = await asyncio.gather(*(frames_until(ws, "done", "error", timeout=120) for ws in sockets))
    assert [frames[-1]["type"] for frames in ends] == ["done"] * len(sockets), [f[-1] for f in ends]
    assert sentinels.promoted(timeout=90)
    new_master = sentinels.master_port()
    assert new_master != old_master

    # Each stored once, billed once.
    for client_id in client_ids:
        row = platform.sql(
            "SELECT count(*) FROM chat_message WHERE client_id = %s AND role = 'user'", [client_id]
        )
        assert row == (1,), client_id
    answers = platform.sql(
        "SELECT count(*), count(DISTINCT m.id) FROM chat_message m JOIN chat_message q"
        " ON q.conversation_id = m.conversation_id AND q.role = 'user' AND m.role = 'assistant'"
        " AND m.id > q.id WHERE q.client_id = ANY(%s)",
        [client_ids],
    )
    assert answers == (len(client_ids), len(client_ids))
    billed = platform.sql(
        "SELECT count(*), count(DISTINCT message_id) FROM billing_usagerecord u"
        " JOIN chat_message m ON m.id = u.message_id JOIN chat_message q"
        " ON q.conversation_id = m.conversation_id AND q.role = 'user' WHERE q.client_id = ANY(%s)",
        [client_ids],
    )
    assert billed == (len(client_ids), len(client_ids))

    # Every slot is free again on the new master (given back, or its lease lapsed).
    assert wait_for(lambda: all(live_slots(new_master, t) == 0 for t in tenant_ids), timeout=120)

    # The platform found the new master by itself: new messages are answered there.
    async def answered(ws: object) -> str:
        for _ in range(30):
            await send(ws, "And now? [[tokens=3]]")  # type: ignore[arg-type]
            last = (await frames_until(ws, "done", "error", timeout=60))[-1]  # type: ignore[arg-type]
            if last["type"] == "done":
                return "done"
            assert last["code"] == "SERVICE_UNAVAILABLE", last
            await asyncio.sleep(last.get("retry_after", 1))
        return "refused"

    assert await asyncio.gather(*(answered(ws) for ws in probes)) == ["done"] * TENANTS
    for ws in [*sockets, *probes]:
        await ws.close()
