"""PostgreSQL restarted or down under a running platform (Daphne, a Celery worker), on a cluster
of the test's own: no turn lost, none stored twice, and every refusal a clear one (close 1013,
``SERVICE_UNAVAILABLE``, HTTP 503), never a 500."""

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect

from testkit.fake_openai import FakeOpenAI
from testkit.live import LivePlatform, OwnPostgres, start_platform
from testkit.live_ws import close_code, frames_until, member, open_chat, send, text_of
from testkit.world import chat_calls_with, word_marker

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    server.create()
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def platform(
    postgres: OwnPostgres, fake_openai_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LivePlatform]:
    # The outbox is tried every second: the test waits less once the database is back. Four
    # pooled connections: after a restart, each one psycopg_pool tried in turn, with its backoff,
    # used to run out the pool's timeout (issue 30, 4).
    live = start_platform(
        "production",
        tmp_path=tmp_path_factory.mktemp("pg"),
        llm_url=fake_openai_server.url,
        database_url=postgres.url,
        extra_env={"OUTBOX_RETRY_S": "1", "DB_POOL_MIN": "4"},
    )
    yield live
    live.stop()


def stored(platform: LivePlatform, message_id: int) -> tuple[Any, ...] | None:
    """(answers with this id, their usage records, the answer's text, its conversation's
    message count) once the answer is stored."""
    return platform.sql(
        "SELECT count(*), (SELECT count(*) FROM billing_usagerecord WHERE message_id = %s),"
        " max(m.content), max(c.message_count)"
        " FROM chat_message m JOIN chat_conversation c ON c.id = m.conversation_id WHERE m.id = %s",
        [message_id, message_id],
    )


def wait_until_stored(platform: LivePlatform, message_id: int, timeout: float = 90) -> tuple[Any, ...]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            row = stored(platform, message_id)
        except Exception:  # the database is still starting
            row = None
        if row is not None and row[0]:
            return row
        time.sleep(0.3)
    raise AssertionError(f"answer {message_id} was not stored:\n" + "\n".join(platform.output[-30:]))


async def test_a_restart_between_turns_costs_no_turn_handshake_or_request(
    platform: LivePlatform, postgres: OwnPostgres, fake_openai_server: FakeOpenAI
) -> None:
    _, _, _, token = member(platform)
    ws, _ = await open_chat(platform, token)
    await send(ws, "before [[tokens=3]]")
    assert (await frames_until(ws, "done", "error"))[-1]["type"] == "done"

    postgres.stop()
    postgres.start()  # every pooled connection is now dead

    # No pooled connection that died is handed out, and the first one that fails has the pool
    # drop the others at once: the first message after the restart is answered, not refused.
    for n in range(3):
        await send(ws, f"after {n} [[tokens=3]]")
        frames = await frames_until(ws, "done", "error")
        assert frames[-1]["type"] == "done", frames
    other, ready = await open_chat(platform, token)
    assert ready["conversation_id"]
    status, body = platform.http("GET", "/api/v1/conversations/", token=token)
    assert status == 200, body
    await other.close()
    await ws.close()


@pytest.mark.parametrize("outage", ["restarted mid-answer", "down as the answer ends"])
async def test_an_answer_that_ends_while_the_database_is_away_is_stored_once(
    platform: LivePlatform, postgres: OwnPostgres, fake_openai_server: FakeOpenAI, outage: str
) -> None:
    _, _, _, token = member(platform)
    ws, ready = await open_chat(platform, token)
    marker = word_marker()
    await send(ws, f"{marker} [[tokens=30]] [[delay=0.05]]")
    first = await frames_until(ws, "token")
    postgres.stop()
    restarted = outage == "restarted mid-answer"
    if restarted:
        postgres.start()
    try:
        frames = first + await frames_until(ws, "done", "error", timeout=60)
        done = frames[-1]
        assert done["type"] == "done", frames  # the client is told nothing went wrong
        if not restarted:
            await refused_clearly_while_down(platform, token, ws)
    finally:
        if not restarted:
            postgres.start()

    count, usage_records, content, message_count = wait_until_stored(platform, done["message_id"])
    assert (count, usage_records, message_count) == (1, 1, 2)
    assert content == text_of(frames)
    assert len(chat_calls_with(fake_openai_server, marker)) == 1, [
        (c.body.get("model"), c.messages[-1]) for c in fake_openai_server.calls[-5:]
    ]
    status, body = platform.http(
        "GET", f"/api/v1/conversations/{ready['conversation_id']}/messages/", token=token
    )
    assert status == 200, body
    assert [m["id"] for m in body["results"] if m["role"] == "assistant"] == [done["message_id"]]
    await wait_for_empty_outbox(platform)
    await ws.close()


async def refused_clearly_while_down(platform: LivePlatform, token: str, ws: Any) -> None:
    """A handshake: closed with 1013 after a ``SERVICE_UNAVAILABLE`` frame. A message on an open
    socket: ``SERVICE_UNAVAILABLE`` with ``retry_after``. REST: 503 JSON. ``/readyz``: what is down."""
    fresh = await connect(f"{platform.ws_url}/ws/chat/", subprotocols=["chat.v1", f"bearer.{token}"])  # type: ignore[list-item]
    code, frames = await close_code(fresh, timeout=30)
    assert code == 1013
    assert [f["code"] for f in frames] == ["SERVICE_UNAVAILABLE"]

    await send(ws, "while down [[tokens=2]]")
    refusal = (await frames_until(ws, "error", "done"))[-1]
    assert refusal["code"] == "SERVICE_UNAVAILABLE" and refusal["retry_after"] > 0, refusal

    status, body = platform.http("GET", "/api/v1/conversations/", token=token)
    assert (status, body["code"]) == (503, "service_unavailable")
    status, body = platform.http("GET", "/readyz")
    assert status == 503 and not body["checks"]["database"]["ok"], body
    assert body["outbox_turns"] >= 1


async def wait_for_empty_outbox(platform: LivePlatform, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = platform.http("GET", "/readyz")
        if status == 200 and body["outbox_turns"] == 0:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"the outbox did not empty: {body}")
