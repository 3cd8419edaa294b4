"""Operations against real Daphne processes on PostgreSQL + Redis: the SIGTERM drain, and two
instances sharing one database and one Redis, as behind a load balancer."""

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from websockets.asyncio.client import connect

from testkit.fake_openai import FakeOpenAI
from testkit.live import LIVE_REDIS_URL, METRICS_TOKEN, ROOT, LivePlatform, start_platform
from testkit.live_ws import close_code, frames_until, open_chat, send
from testkit.world import chat_calls_with

pytestmark = pytest.mark.live

DRAIN_GRACE_S = 4


def answer_row(platform: LivePlatform, message_id: int) -> tuple[Any, ...] | None:
    return platform.sql(
        "SELECT m.finish_reason, m.output_tokens, m.content, u.output_tokens"
        " FROM chat_message m JOIN billing_usagerecord u ON u.message_id = m.id WHERE m.id = %s",
        [message_id],
    )


async def test_sigterm_drains_streams_refuses_new_sockets_and_closes_the_rest_with_1012(
    fake_openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    platform = start_platform(
        "production",
        tmp_path=tmp_path,
        llm_url=fake_openai_server.url,
        extra_env={"CHAT_DRAIN_TIMEOUT_S": str(DRAIN_GRACE_S)},
    )
    try:
        slug, username, password = platform.new_tenant_with_member(tier="enterprise")
        token = platform.token(username, password, slug)
        idle, _ = await open_chat(platform, token)
        short, _ = await open_chat(platform, token)
        long, _ = await open_chat(platform, token)
        await send(short, "[[tokens=15]] [[delay=0.1]]")  # ends ~1.5 s after it starts
        await send(long, "[[tokens=1000]] [[delay=0.05]]")  # would take 50 s
        short_frames = await frames_until(short, "token")
        await frames_until(long, "token")

        os.kill(platform.server_pid(), signal.SIGTERM)
        signalled = time.monotonic()
        assert (await close_code(idle, 3))[0] == 1012
        with pytest.raises(OSError):  # no longer listening: a load balancer tries another instance
            await connect(f"{platform.ws_url}/ws/chat/?token={token}", open_timeout=3)

        short_frames += await frames_until(short, "done")
        assert short_frames[-1]["finish_reason"] == "stop"
        text = "".join(f["content"] for f in short_frames if f["type"] == "token")
        assert text.endswith("tok14 ")
        assert (await close_code(short, 3))[0] == 1012

        long_done = (await frames_until(long, "done", timeout=DRAIN_GRACE_S + 5))[-1]
        assert long_done["finish_reason"] == "cancelled"
        assert DRAIN_GRACE_S - 0.5 < time.monotonic() - signalled < DRAIN_GRACE_S + 4
        assert (await close_code(long, 3))[0] == 1012
        platform.process.wait(20)  # the instance exits once drained

        # Nothing in flight is lost: both answers are stored with their usage records.
        finish, output_tokens, content, billed = answer_row(platform, short_frames[-1]["message_id"])  # type: ignore[misc]
        assert (finish, output_tokens, billed) == ("stop", 15, 15) and content == text
        finish, output_tokens, content, billed = answer_row(platform, long_done["message_id"])  # type: ignore[misc]
        assert finish == "cancelled" and 0 < output_tokens == billed == long_done["usage"]["output_tokens"]
        assert content.startswith("tok0 tok1 ")
    finally:
        platform.stop()


def notify(platform: LivePlatform, slug: str, username: str, text: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://root@127.0.0.1:5432/{platform.database}",
        "REDIS_URL": LIVE_REDIS_URL,
    }
    subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "manage.py",
            "notify_user",
            "--tenant",
            slug,
            "--username",
            username,
            text,
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


async def test_two_instances_share_conversations_and_user_pushes(
    fake_openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    shared = {"SECRET_KEY": secrets.token_urlsafe(32)}  # one deployment: tokens valid on both
    # The first instance also exports its traces, chosen by the standard OTEL_* variables.
    tracing = {"OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    first = start_platform(
        "production", tmp_path=tmp_path / "a", llm_url=fake_openai_server.url, extra_env=shared | tracing
    )
    second = start_platform(
        "production",
        tmp_path=tmp_path / "b",
        llm_url=fake_openai_server.url,
        extra_env=shared,
        database=first.database,
    )
    try:
        # Each start resets the staff password: the second instance's is the valid one.
        slug, username, password = second.new_tenant_with_member()
        token = first.token(username, password, slug)
        marker = uuid.uuid4().hex

        # A conversation started on one instance continues on the other, with its history.
        ws, ready = await open_chat(first, token)
        conversation_id = ready["conversation_id"]
        await send(ws, f"first {marker} [[tokens=3]]")
        await frames_until(ws, "done")
        await ws.close()
        await asyncio.sleep(0.5)
        turn_log = next(json.loads(line) for line in first.output if '"event": "chat.turn"' in line)
        assert f'"trace_id": "0x{turn_log["trace_id"]}"' in "\n".join(first.output)  # the exported span
        ws, ready = await open_chat(second, token, f"/ws/chat/{conversation_id}/")
        same = ready["conversation_id"]
        assert same == conversation_id
        await send(ws, f"second {marker} [[tokens=3]]")
        await frames_until(ws, "done")
        (call,) = chat_calls_with(fake_openai_server, f"second {marker}")
        assert [m["role"] for m in call.messages] == ["system", "user", "assistant", "user"]
        assert call.messages[1]["content"] == f"first {marker} [[tokens=3]]"
        assert call.messages[2]["content"] == "tok0 tok1 tok2 "

        # A push through the channel layer reaches the user's sockets on both instances, and no one else's.
        on_first, _ = await open_chat(first, token)
        other_slug, other_user, other_password = second.new_tenant_with_member()
        bystander, _ = await open_chat(second, second.token(other_user, other_password, other_slug))
        notify(first, slug, username, f"maintenance {marker}")
        for socket in (ws, on_first):
            frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
            if frame["type"] == "title":  # the conversation's title, pushed whenever the worker made it
                frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert frame == {"type": "notice", "text": f"maintenance {marker}"}
        await bystander.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(bystander.recv(), 10)) == {"type": "pong"}
        for socket in (ws, on_first, bystander):
            await socket.close()
    finally:
        second.stop()
        first.stop()


async def test_after_every_process_restarts_a_conversation_goes_on_with_its_whole_context(
    fake_openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    env = {"SECRET_KEY": secrets.token_urlsafe(32), "CHAT_SUMMARY_KEEP_RECENT": "2"}
    first = start_platform(
        "production", tmp_path=tmp_path / "a", llm_url=fake_openai_server.url, extra_env=env
    )
    try:
        slug, username, password = first.new_tenant_with_member()
        first.sql("UPDATE tenants_tenant SET summarize_after_messages = 4 WHERE slug = %s", [slug])
        marker = uuid.uuid4().hex
        ws, ready = await open_chat(first, first.token(username, password, slug))
        conversation_id = ready["conversation_id"]
        for n in range(3):
            await send(ws, f"{marker} part {n} [[tokens=2]]")
            await frames_until(ws, "done")
            if n == 1:
                # The second summary is due when the messages the first one left out reach 4: it
                # must have landed before the third turn (a worker is slow to start on a busy
                # machine), or the third turn counts 6 uncovered messages and queues none.
                deadline = time.monotonic() + 120
                while not first.sql(
                    "SELECT 1 FROM chat_conversation WHERE id = %s AND summary_message_count = 2",
                    [conversation_id],
                ):
                    assert time.monotonic() < deadline, "the first summary was never written"
                    await asyncio.sleep(0.3)
        await ws.close()

        def summary() -> str:
            """Written by the platform's own Celery worker, twice: at 4 messages (covering 2) and
            at 6 (covering 4; the latest 2 stay out, CHAT_SUMMARY_KEEP_RECENT)."""
            row = first.sql(
                "SELECT summary FROM chat_conversation WHERE id = %s AND summary_message_count = 4",
                [conversation_id],
            )
            return row[0] if row else ""

        deadline = time.monotonic() + 30
        while not summary() and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        written = summary()
        assert written
    finally:
        first.stop(keep_database=True)  # Daphne, the worker and beat: every process
    redis.Redis.from_url(LIVE_REDIS_URL).flushdb()  # and Redis forgets everything

    second = start_platform(
        "production",
        tmp_path=tmp_path / "b",
        llm_url=fake_openai_server.url,
        extra_env=env,
        database=first.database,
    )
    try:
        ws, ready = await open_chat(
            second, second.token(username, password, slug), f"/ws/chat/{conversation_id}/"
        )
        assert ready["conversation_id"] == conversation_id
        await send(ws, f"{marker} after the restart [[tokens=2]]")
        await frames_until(ws, "done")
        await ws.close()
        asked = f"{marker} after the restart [[tokens=2]]"  # the chat call, not a summary quoting it
        (call,) = [c for c in fake_openai_server.calls if c.messages[-1]["content"] == asked]
        system, *recent = call.messages
        assert system["content"].endswith(written)
        assert [m["content"] for m in recent] == [
            f"{marker} part 2 [[tokens=2]]",
            "tok0 tok1 ",
            f"{marker} after the restart [[tokens=2]]",
        ]
    finally:
        second.stop()
        first.stop()  # now the database they shared goes too


def _established_by_pid(port: int) -> dict[int, int]:
    """Open TCP connections to ``port``, per process holding them (``ss``)."""
    listing = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts: dict[int, int] = {}
    for pid in re.findall(r"pid=(\d+)", listing):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


def _metric(platform: LivePlatform, line_start: str) -> float:
    request = urllib.request.Request(  # noqa: S310 (local)
        f"{platform.base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (local)
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))


async def test_two_daphne_processes_share_the_port_the_sockets_and_the_metrics(
    fake_openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    """DAPHNE_PROCESSES=2: two processes listen on one port (SO_REUSEPORT), the kernel spreads
    the sockets over both, each answers, and /metrics (whichever process serves it) counts the
    sockets and answers of both."""
    platform = start_platform(
        "production", tmp_path=tmp_path, llm_url=fake_openai_server.url, extra_env={"DAPHNE_PROCESSES": "2"}
    )
    try:
        deadline = time.monotonic() + 60
        while len(platform.server_pids()) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        pids = platform.server_pids()
        assert len(pids) == 2
        slug, username, password = platform.new_tenant_with_member(tier="enterprise")
        token = platform.token(username, password, slug)
        sockets = []
        while set(_established_by_pid(platform.port)) != set(pids) and time.monotonic() < deadline:
            sockets.append((await open_chat(platform, token))[0])  # the second may still be starting
        assert set(_established_by_pid(platform.port)) == set(pids), "every process holds sockets"
        for ws in sockets:
            await send(ws, f"{uuid.uuid4().hex} [[tokens=3]]")
        for ws in sockets:
            assert (await frames_until(ws, "done"))[-1]["finish_reason"] == "stop"
        assert _metric(platform, "chat_ws_connections{") == len(sockets)
        assert _metric(platform, "chat_messages_total{") == len(sockets)
        for ws in sockets:
            await ws.close()
    finally:
        platform.stop()
