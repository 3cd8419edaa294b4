"""Protocol v1 and the REST entry points, against real Daphne processes started with the
README's run command: once on PostgreSQL + Redis + Celery, once on the embedded default
(no settings). A plain ``websockets`` client speaks to them, as any third-party client would."""

import asyncio
import collections
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chat.protocol import FrameError, parse_frame
from testkit import frame_fuzz
from testkit.fake_openai import FakeOpenAI
from testkit.live import LivePlatform, start_platform
from testkit.world import chat_calls_with

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=["production", "embedded"])
def platform(
    request: pytest.FixtureRequest, fake_openai_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LivePlatform]:
    live = start_platform(
        request.param, tmp_path=tmp_path_factory.mktemp(request.param), llm_url=fake_openai_server.url
    )
    yield live
    live.stop()


@pytest.fixture(scope="module")
def member(platform: LivePlatform) -> tuple[str, str]:
    """(tenant slug, access token) of a fresh member."""
    slug, username, password = platform.new_tenant_with_member()
    return slug, platform.token(username, password, slug)


async def open_socket(
    platform: LivePlatform, token: str, path: str = "/ws/chat/"
) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(platform.ws_url + path, subprotocols=["chat.v1", f"bearer.{token}"])  # type: ignore[list-item]
    assert ws.subprotocol == "chat.v1"
    ready = json.loads(await ws.recv())
    assert ready["type"] == "ready"
    return ws, ready


async def until(ws: ClientConnection, frame_type: str) -> list[dict[str, Any]]:
    """The frames up to ``frame_type``'s; a ``title`` (pushed to every socket of the user when
    the background title is written, whenever that is) is not one of them."""
    frames = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] == "title" and frame_type != "title":
            continue
        frames.append(frame)
        if frame["type"] == frame_type:
            return frames


async def test_a_handshake_without_valid_credentials_is_http_403(platform: LivePlatform) -> None:
    for url in ["/ws/chat/", "/ws/chat/?token=garbage"]:
        with pytest.raises(InvalidStatus) as refused:
            await connect(platform.ws_url + url)
        assert refused.value.response.status_code == 403


async def test_a_message_streams_and_the_conversation_continues(
    platform: LivePlatform, member: tuple[str, str]
) -> None:
    _, token = member
    ws, ready = await open_socket(platform, token)
    assert ready["resumable"] == [] and ready["greeting"]
    await ws.send(
        json.dumps({"type": "message", "content": "hello [[tokens=25]]", "client_id": str(uuid.uuid4())})
    )
    frames = await until(ws, "done")
    assert frames[0] == {"type": "typing", "active": True}
    tokens = [f for f in frames if f["type"] == "token"]
    assert [f["seq"] for f in tokens] == list(range(1, len(tokens) + 1))
    assert "".join(f["content"] for f in tokens) == "".join(f"tok{i} " for i in range(25))
    done = frames[-1]
    assert done["finish_reason"] == "stop" and done["model"] == "gpt-4o-mini"
    assert done["usage"]["output_tokens"] == 25 and float(done["cost_usd"]) > 0
    await ws.close()

    # Continue the same conversation from a new connection (query-string token this time).
    async with connect(f"{platform.ws_url}/ws/chat/{ready['conversation_id']}/?token={token}") as again:
        assert json.loads(await again.recv())["conversation_id"] == ready["conversation_id"]
        await again.send(json.dumps({"type": "ping"}))
        assert json.loads(await again.recv()) == {"type": "pong"}


async def test_cancel_closes_the_upstream_stream(
    platform: LivePlatform, member: tuple[str, str], fake_openai_server: FakeOpenAI
) -> None:
    ws, _ = await open_socket(platform, member[1])
    marker = uuid.uuid4().hex
    await ws.send(
        json.dumps(
            {
                "type": "message",
                "content": f"{marker} [[tokens=2000]] [[delay=0.01]]",
                "client_id": str(uuid.uuid4()),
            }
        )
    )
    await until(ws, "token")
    await ws.send(json.dumps({"type": "cancel"}))
    done = (await until(ws, "done"))[-1]
    assert done["finish_reason"] == "cancelled" and done["usage"]["estimated"] is True
    (call,) = chat_calls_with(fake_openai_server, marker)
    assert await asyncio.to_thread(call.closed.wait, 5)
    assert call.tokens_sent < 2000
    await ws.close()


async def test_a_dropped_socket_resumes_its_answer_with_every_frame_once(
    platform: LivePlatform, member: tuple[str, str], fake_openai_server: FakeOpenAI
) -> None:
    """Both deployments: Redis Streams in production, the in-process store embedded."""
    marker = uuid.uuid4().hex
    ws, ready = await open_socket(platform, member[1])
    await ws.send(
        json.dumps(
            {
                "type": "message",
                "content": f"{marker} [[tokens=80]] [[delay=0.02]]",
                "client_id": str(uuid.uuid4()),
            }
        )
    )
    seen = await until(ws, "token")
    await ws.close()
    seen_seqs = [f["seq"] for f in seen if f["type"] == "token"]
    ws, again = await open_socket(platform, member[1], f"/ws/chat/{ready['conversation_id']}/")
    (listed,) = again["resumable"]
    await ws.send(json.dumps({"type": "resume", "message_id": listed["message_id"], "after": seen_seqs[-1]}))
    rest = await until(ws, "done")
    seqs = seen_seqs + [f["seq"] for f in rest if f["type"] == "token"]
    assert seqs == list(range(1, len(seqs) + 1))
    text = "".join(f["content"] for f in seen + rest if f["type"] == "token")
    assert text == "".join(f"tok{i} " for i in range(80)) and rest[-1]["finish_reason"] == "stop"
    assert len(chat_calls_with(fake_openai_server, marker)) == 1
    await ws.close()


async def test_a_replayed_client_id_is_answered_from_storage(
    platform: LivePlatform, member: tuple[str, str], fake_openai_server: FakeOpenAI
) -> None:
    marker, client_id = uuid.uuid4().hex, str(uuid.uuid4())
    ws, ready = await open_socket(platform, member[1])
    await ws.send(
        json.dumps({"type": "message", "content": f"{marker} [[tokens=4]]", "client_id": client_id})
    )
    first = (await until(ws, "done"))[-1]
    await ws.close()
    ws, _ = await open_socket(platform, member[1], f"/ws/chat/{ready['conversation_id']}/")
    await ws.send(
        json.dumps({"type": "message", "content": f"{marker} [[tokens=4]]", "client_id": client_id})
    )
    response, done = await until(ws, "done")
    assert response["type"] == "response" and response["message_id"] == first["message_id"]
    assert done["usage"] == first["usage"]
    assert len(chat_calls_with(fake_openai_server, marker)) == 1
    await ws.close()


async def test_another_tenants_conversation_is_not_found(
    platform: LivePlatform, member: tuple[str, str]
) -> None:
    ws, ready = await open_socket(platform, member[1])
    await ws.close()
    slug, username, password = platform.new_tenant_with_member()
    other = platform.token(username, password, slug)
    intruder = await connect(
        f"{platform.ws_url}/ws/chat/{ready['conversation_id']}/", subprotocols=["chat.v1", f"bearer.{other}"]
    )  # type: ignore[list-item]
    assert json.loads(await intruder.recv())["code"] == "NOT_FOUND"
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(intruder.recv(), 5)
    assert intruder.close_code == 4404


async def test_bad_frames_get_errors_on_a_connection_that_stays_open(
    platform: LivePlatform, member: tuple[str, str]
) -> None:
    ws, _ = await open_socket(platform, member[1])
    for raw in [
        "{oops",
        json.dumps({"type": "message", "content": "x" * 40_000, "client_id": str(uuid.uuid4())}),
        json.dumps({"type": "dance"}),
    ]:
        await ws.send(raw)
        assert json.loads(await ws.recv())["code"] == "BAD_REQUEST"
    await ws.send(json.dumps({"type": "ping"}))
    assert json.loads(await ws.recv()) == {"type": "pong"}
    await ws.close()


async def test_protocol_violations_close_with_their_codes(
    platform: LivePlatform, member: tuple[str, str]
) -> None:
    """Past Daphne's message limit (1 MiB) and for text that is not UTF-8, autobahn closes with
    1009 and 1007 instead of dropping the connection without a code.

    The oversized frame is only begun: its header says 1 MiB + 16 bytes, which is where autobahn
    refuses it. Writing the whole megabyte raced the server's close: a write cut short by the
    reset that follows it ended the client's connection before it read the 1009 it was sent."""
    oversized = 1024 * 1024 + 16
    header = bytes([0x81, 0x80 | 127]) + oversized.to_bytes(8, "big") + os.urandom(4)  # FIN, text, masked
    ws, _ = await open_socket(platform, member[1])
    ws.transport.write(header + b"xxxx")
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    ws, _ = await open_socket(platform, member[1])
    await ws.send(b'{"type": "ping", "x": "\xff\xfe"}', text=True)
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007


def test_a_path_out_of_the_static_root_is_a_404(platform: LivePlatform) -> None:
    for path in [
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2fetc/passwd",
        "/static/%2e%2e/manage.py",
    ]:
        assert platform.status("GET", path) == 404, path
    assert platform.status("GET", "/static/chat/chat.js") == 200


FUZZ_FRAMES = 2000


async def test_fuzzed_frames_get_answers_never_a_server_error(
    platform: LivePlatform, member: tuple[str, str]
) -> None:
    """Thousands of hostile frames on one socket (``testkit.frame_fuzz``; ``FUZZ_SEED`` picks
    another run): no ``INTERNAL_ERROR``, no close (1011 or a drop without a code), and the socket
    still answers every ping in order at the end."""
    seed = int(os.environ.get("FUZZ_SEED", "20261127"))
    sent = list(frame_fuzz.frames(seed, FUZZ_FRAMES))
    pings = sum(1 for raw in sent if _is_ping(raw)) + 1
    ws, _ = await open_socket(platform, member[1])
    received: list[dict[str, Any]] = []
    pongs = 0

    async def read() -> None:
        nonlocal pongs
        while pongs < pings:
            frame = json.loads(await ws.recv())
            received.append(frame)
            pongs += frame["type"] == "pong"

    reader = asyncio.create_task(read())
    for raw in sent:
        await ws.send(raw)
    await ws.send(json.dumps({"type": "ping"}))
    try:
        await asyncio.wait_for(reader, 120)
    except ConnectionClosed as closed:
        pytest.fail(f"seed {seed}: the socket closed ({closed.rcvd}) after {len(received)} frames")
    errors = collections.Counter(f["code"] for f in received if f["type"] == "error")
    assert "INTERNAL_ERROR" not in errors, f"seed {seed}: {errors}"
    assert errors["BAD_REQUEST"] > FUZZ_FRAMES // 2, errors  # most of them are refused, with a reason
    await ws.close()


def _is_ping(raw: str) -> bool:
    """Whether the server answers ``raw`` with a pong (the platform's own parser decides)."""
    try:
        return parse_frame(raw, None, max_bytes=32 * 1024)["type"] == "ping"
    except FrameError:
        return False


def test_rest_refusals_are_json(platform: LivePlatform) -> None:
    status, body = platform.http("POST", "/api/v1/auth/token/", {"username": "admin", "password": "wrong"})
    assert status == 401 and body["code"] == "bad_credentials"
    status, body = platform.http("GET", "/api/v1/tenants/")
    assert status == 401 and body["code"] == "not_authenticated"


@pytest.fixture(scope="module")
def demo_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    live = start_platform("embedded", tmp_path=Path(tmp_path_factory.mktemp("demo")), llm_url=None)
    yield live
    live.stop()


async def test_with_no_settings_at_all_the_demo_model_answers(demo_platform: LivePlatform) -> None:
    """What a newcomer gets from the run command: the printed demo login chats with the demo model."""
    token = demo_platform.token("demo", demo_platform.passwords["demo"], "demo")
    ws, _ = await open_socket(demo_platform, token)
    await ws.send(
        json.dumps({"type": "message", "content": "What can you do?", "client_id": str(uuid.uuid4())})
    )
    frames = await until(ws, "done")
    text = "".join(f["content"] for f in frames if f["type"] == "token")
    assert "offline demo model" in text and "What can you do?" in text
    assert frames[-1]["model"] == "demo" and frames[-1]["cost_usd"] == "0.00000000"
    await ws.close()
