"""Limits across processes: a Daphne process killed mid-stream holds no slot after the TTL."""

import asyncio
import json
import os
import signal
import uuid
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.fake_openai import FakeOpenAI
from tests.live import start_platform

pytestmark = pytest.mark.live

LEASE_TTL_S = 12


async def send(ws, content: str) -> None:  # type: ignore[no-untyped-def]
    await ws.send(json.dumps({"type": "message", "content": content, "client_id": str(uuid.uuid4())}))


async def next_of(ws, *types: str) -> dict:  # type: ignore[no-untyped-def]
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if frame["type"] in types:
            return frame


async def test_a_killed_daphne_process_frees_its_stream_slot_after_the_lease_ttl(
    fake_openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    env = {"STREAM_LEASE_TTL_S": str(LEASE_TTL_S)}
    first = start_platform(
        "production", tmp_path=tmp_path / "a", llm_url=fake_openai_server.url, extra_env=env
    )
    try:
        slug, username, password = first.new_tenant_with_member(tier="free")  # one stream at a time
        token = first.token(username, password, slug)
        ws = await connect(f"{first.ws_url}/ws/chat/?token={token}")
        await next_of(ws, "ready")
        await send(ws, "[[tokens=5000]] [[delay=0.01]]")
        await next_of(ws, "token")
        os.kill(first.server_pid(), signal.SIGKILL)  # no clean-up runs: the slot stays taken
        first.process.wait(30)

        second = start_platform(
            "production",
            tmp_path=tmp_path / "b",
            llm_url=fake_openai_server.url,
            extra_env=env,
            database=first.database,
        )
        try:
            token = second.token(username, password, slug)
            async with connect(f"{second.ws_url}/ws/chat/?token={token}") as again:
                await next_of(again, "ready")
                await send(again, "anyone there? [[tokens=2]]")
                refusal = await next_of(again, "error", "done")
                assert refusal["code"] == "TOO_MANY_STREAMS", refusal
                assert 0 < refusal["retry_after"] <= LEASE_TTL_S
                await asyncio.sleep(refusal["retry_after"] + 0.2)
                await send(again, "and now? [[tokens=2]]")
                assert (await next_of(again, "done", "error"))["type"] == "done"
        finally:
            second.stop()
    finally:
        first.stop()
