"""Answers that outlive their socket, across real Daphne instances sharing PostgreSQL and Redis:
one upstream call per client_id whichever instance gets it, resume on the other instance, a
SIGKILLed instance's generation ended by another, rights revoked on every instance."""

import asyncio
import json
import os
import secrets
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from infra.keys import tenant_prefix
from testkit.fake_openai import FakeOpenAI
from testkit.live import LIVE_REDIS_URL, LivePlatform, start_platform
from testkit.live_ws import close_code, frames_until, member, open_chat, send, text_of
from testkit.world import chat_calls_with

pytestmark = pytest.mark.live

LEASE_TTL_S = 6
ENV = {"STREAM_LEASE_TTL_S": str(LEASE_TTL_S)}


@pytest.fixture(scope="module")
def pair(
    fake_openai_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LivePlatform, LivePlatform]]:
    """Two instances of one deployment: one database, one Redis, one secret key."""
    env = ENV | {"SECRET_KEY": secrets.token_urlsafe(32)}
    first = start_platform(
        "production", tmp_path=tmp_path_factory.mktemp("a"), llm_url=fake_openai_server.url, extra_env=env
    )
    second = start_platform(
        "production",
        tmp_path=tmp_path_factory.mktemp("b"),
        llm_url=fake_openai_server.url,
        extra_env=env,
        database=first.database,
    )
    yield first, second
    second.stop()
    first.stop()


def seqs_of(frames: list[dict[str, Any]]) -> list[int]:
    return [f["seq"] for f in frames if f["type"] == "token"]


def answer_row(platform: LivePlatform, message_id: int) -> tuple[Any, ...] | None:
    return platform.sql(
        "SELECT m.finish_reason, m.content, u.output_tokens, u.input_tokens, u.estimated,"
        " (SELECT count(*) FROM billing_usagerecord WHERE message_id = m.id)"
        " FROM chat_message m JOIN billing_usagerecord u ON u.message_id = m.id WHERE m.id = %s",
        [message_id],
    )


async def test_one_client_id_on_both_instances_is_one_upstream_call(
    pair: tuple[LivePlatform, LivePlatform], fake_openai_server: FakeOpenAI
) -> None:
    first, second = pair
    _, _, _, token = member(second)  # the instance started last holds the staff password
    on_first, ready = await open_chat(first, token)
    on_second, _ = await open_chat(second, token, f"/ws/chat/{ready['conversation_id']}/")
    marker = uuid.uuid4().hex
    content = f"{marker} [[tokens=80]] [[delay=0.02]]"
    client_id = await send(on_first, content)
    head = await frames_until(on_first, "token")
    await send(on_second, content, client_id)  # mid-stream, on the other instance
    one, two = await asyncio.gather(frames_until(on_first, "done"), frames_until(on_second, "done"))
    one = head + one
    assert one[-1] == two[-1] and one[-1]["finish_reason"] == "stop"
    expected = "".join(f"tok{i} " for i in range(80))
    assert text_of(one) == text_of(two) == expected
    assert seqs_of(two) == list(range(1, len(seqs_of(two)) + 1))
    assert len(chat_calls_with(fake_openai_server, marker)) == 1
    row = answer_row(first, one[-1]["message_id"])
    assert row is not None and row[1] == expected and row[5] == 1
    rows = first.sql(
        "SELECT count(*) FROM chat_message WHERE conversation_id = %s", [ready["conversation_id"]]
    )
    assert rows == (2,)
    for ws in (on_first, on_second):
        await ws.close()


async def test_disconnect_then_resume_on_the_other_instance_gets_every_frame_once(
    pair: tuple[LivePlatform, LivePlatform], fake_openai_server: FakeOpenAI
) -> None:
    first, second = pair
    _, _, _, token = member(second)  # the instance started last holds the staff password
    ws, ready = await open_chat(first, token)
    await send(ws, "resume me [[tokens=120]] [[delay=0.02]]")
    seen = await frames_until(ws, "token")
    seen += await frames_until(ws, "token")
    await ws.close()  # a network blip: the answer goes on without the socket
    after = seqs_of(seen)[-1]
    message_id = seen[-1]["message_id"]

    again, ready_again = await open_chat(second, token, f"/ws/chat/{ready['conversation_id']}/")
    listed = [g for g in ready_again["resumable"] if g["message_id"] == message_id]
    assert listed and listed[0]["last_seq"] >= after
    await again.send(json.dumps({"type": "resume", "message_id": message_id, "after": after}))
    rest = await frames_until(again, "done")
    seqs = seqs_of(seen) + seqs_of(rest)
    assert seqs == list(range(1, len(seqs) + 1)), "a frame is missing or repeated"
    text = text_of(seen) + text_of(rest)
    finish, stored, output_tokens, *_ = answer_row(first, message_id)  # type: ignore[misc]
    assert (finish, output_tokens) == ("stop", 120)
    assert stored == text == "".join(f"tok{i} " for i in range(120))
    await again.close()


async def test_a_cancel_on_the_other_instance_stops_the_answer_at_once(
    pair: tuple[LivePlatform, LivePlatform], fake_openai_server: FakeOpenAI
) -> None:
    first, second = pair
    _, _, _, token = member(second)
    streaming, _ = await open_chat(first, token)
    marker = uuid.uuid4().hex
    await send(streaming, f"{marker} [[tokens=3000]] [[delay=0.01]]")
    message_id = (await frames_until(streaming, "token"))[-1]["message_id"]
    elsewhere, _ = await open_chat(second, token)
    await elsewhere.send(json.dumps({"type": "cancel", "message_id": message_id}))
    done = (await frames_until(streaming, "done"))[-1]
    assert done["finish_reason"] == "cancelled"
    (call,) = chat_calls_with(fake_openai_server, marker)
    assert await asyncio.to_thread(call.closed.wait, 10) and call.tokens_sent < 3000
    for ws in (streaming, elsewhere):
        await ws.close()


async def test_a_role_change_closes_the_users_sockets_on_both_instances(
    pair: tuple[LivePlatform, LivePlatform],
) -> None:
    first, second = pair
    slug, username, _, token = member(second)
    sockets = [(await open_chat(first, token))[0], (await open_chat(second, token))[0]]
    staff = second.token("admin", second.passwords["admin"])
    status, members = second.http("GET", f"/api/v1/tenants/{slug}/members/", token=staff)
    (membership,) = [m for m in members if m["username"] == username]
    changed_at = time.monotonic()
    status, body = second.http(
        "PATCH", f"/api/v1/tenants/{slug}/members/{membership['id']}/", {"role": "viewer"}, token=staff
    )
    assert status == 200 and body["role"] == "viewer"
    for ws in sockets:
        code, frames = await close_code(ws, 10)
        assert code == 4403 and frames[-1]["code"] == "ACCESS_REVOKED"
    elapsed = time.monotonic() - changed_at
    print(f"both sockets closed {elapsed * 1000:.0f} ms after the change")


async def test_a_killed_instances_generation_is_ended_billed_and_released_by_another(
    pair: tuple[LivePlatform, LivePlatform], fake_openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    """Last in the module: starting a third instance resets the staff password the others know."""
    survivor = pair[1]
    doomed = start_platform(
        "production",
        tmp_path=tmp_path,
        llm_url=fake_openai_server.url,
        extra_env=ENV,
        database=survivor.database,
    )
    try:
        slug, username, password, token = member(doomed, tier="free")  # one stream, a token budget
        ws, ready = await open_chat(doomed, token)
        await send(ws, "doomed [[tokens=5000]] [[delay=0.01]]")
        seen = await frames_until(ws, "token")
        seen += await frames_until(ws, "token")
        message_id = seen[-1]["message_id"]
        os.kill(doomed.server_pid(), signal.SIGKILL)  # no clean-up runs on that instance
        killed_at = time.monotonic()

        token = survivor.token(username, password, slug)
        again, ready_again = await open_chat(survivor, token, f"/ws/chat/{ready['conversation_id']}/")
        assert [g["message_id"] for g in ready_again["resumable"]] == [message_id]
        await again.send(json.dumps({"type": "resume", "message_id": message_id, "after": seqs_of(seen)[-1]}))
        rest = await frames_until(again, "done", timeout=LEASE_TTL_S * 10)
        done = rest[-1]
        error = json.loads(await asyncio.wait_for(again.recv(), 10))
        assert done["finish_reason"] == "error" and error["code"] == "UPSTREAM_ERROR"
        assert time.monotonic() - killed_at >= LEASE_TTL_S - 1  # not before the lease lapsed

        finish, stored, output_tokens, input_tokens, estimated, records = answer_row(survivor, message_id)  # type: ignore[misc]
        assert finish == "error" and estimated and records == 1
        assert stored == text_of(seen) + text_of(rest)  # what the clients saw, no more, no less
        assert output_tokens > 0 and input_tokens > 0
        assert done["usage"]["output_tokens"] == output_tokens
        # The reservation is settled: nothing is held for that tenant any more.
        tenant_id = survivor.sql("SELECT id FROM tenants_tenant WHERE slug = %s", [slug])[0]  # type: ignore[index]
        store = redis.Redis.from_url(LIVE_REDIS_URL, decode_responses=True)
        (counters,) = store.keys(f"{tenant_prefix(tenant_id)}:budget:*[0-9]")
        assert int(store.hget(counters, "reserved") or 0) == 0  # type: ignore[arg-type]
        assert int(store.hget(counters, "used") or 0) == input_tokens + output_tokens  # type: ignore[arg-type]
        # And the stream slot is free: the one-stream tier answers the next message at once.
        await send(again, "my turn [[tokens=2]]")
        assert (await frames_until(again, "done", "error"))[-1]["type"] == "done"
        await again.close()
    finally:
        doomed.stop()
