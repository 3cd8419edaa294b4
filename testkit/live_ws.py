"""A WebSocket client of a live platform (``testkit.live``), as any other client would drive it."""

import asyncio
import json
import uuid
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from testkit.live import LivePlatform


async def open_chat(
    platform: LivePlatform, token: str, path: str = "/ws/chat/"
) -> tuple[ClientConnection, dict[str, Any]]:
    """An open chat socket and its ``ready`` frame."""
    ws = await connect(f"{platform.ws_url}{path}", subprotocols=["chat.v1", f"bearer.{token}"])  # type: ignore[list-item]
    ready = json.loads(await ws.recv())
    assert ready["type"] == "ready", ready
    return ws, ready


async def send(ws: ClientConnection, content: str, client_id: str | None = None) -> str:
    client_id = client_id or str(uuid.uuid4())
    await ws.send(json.dumps({"type": "message", "content": content, "client_id": client_id}))
    return client_id


async def frames_until(ws: ClientConnection, *types: str, timeout: float = 30) -> list[dict[str, Any]]:
    """The frames up to the first of ``types``; a ``title`` (pushed to every socket of the user
    when the background title is written, whenever that is) is skipped unless asked for."""
    frames = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == "title" and "title" not in types:
            continue
        frames.append(frame)
        if frame["type"] in types:
            return frames


async def close_code(ws: ClientConnection, timeout: float) -> tuple[int | None, list[dict[str, Any]]]:
    """The close code, and the frames that came before it."""
    frames = []
    with pytest.raises(ConnectionClosed):
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    return ws.close_code, frames


def text_of(frames: list[dict[str, Any]]) -> str:
    return "".join(f["content"] for f in frames if f["type"] == "token")


def member(platform: LivePlatform, tier: str = "professional") -> tuple[str, str, str, str]:
    """(tenant slug, username, password, access token) of a fresh member."""
    slug, username, password = platform.new_tenant_with_member(tier=tier)
    return slug, username, password, platform.token(username, password, slug)
