"""Helpers to speak protocol v1 through Channels' communicator (the real ASGI app)."""

import json
import uuid
from typing import Any

from channels.testing import WebsocketCommunicator

from chatplatform.asgi import application

TIMEOUT = 10


async def connect(
    path: str = "/ws/chat/",
    *,
    token: str | None = None,
    via: str = "subprotocol",
    headers: list[tuple[bytes, bytes]] | None = None,
    subprotocols: list[str] | None = None,
) -> tuple[WebsocketCommunicator, bool, Any]:
    if token is not None and via == "subprotocol":
        subprotocols = ["chat.v1", f"bearer.{token}"]
    elif token is not None:
        path = f"{path}?token={token}"
    communicator = WebsocketCommunicator(application, path, headers=headers or [], subprotocols=subprotocols)
    connected, detail = await communicator.connect(timeout=TIMEOUT)
    return communicator, connected, detail


async def open_chat(token: str, path: str = "/ws/chat/") -> tuple[WebsocketCommunicator, dict[str, Any]]:
    communicator, connected, subprotocol = await connect(path, token=token)
    assert connected, "handshake refused"
    assert subprotocol == "chat.v1"
    ready = await communicator.receive_json_from(TIMEOUT)
    assert ready["type"] == "ready"
    return communicator, ready


async def send_message(
    communicator: WebsocketCommunicator, content: str, client_id: str | None = None
) -> str:
    client_id = client_id or str(uuid.uuid4())
    await communicator.send_to(
        text_data=json.dumps({"type": "message", "content": content, "client_id": client_id})
    )
    return client_id


async def frames_until(communicator: WebsocketCommunicator, *frame_types: str) -> list[dict[str, Any]]:
    """Every frame up to and including the first of one of ``frame_types``."""
    frames = []
    while True:
        frame = await communicator.receive_json_from(TIMEOUT)
        frames.append(frame)
        if frame["type"] in frame_types:
            return frames


async def ask(communicator: WebsocketCommunicator, content: str) -> list[dict[str, Any]]:
    await send_message(communicator, content)
    return await frames_until(communicator, "done")


def streamed_text(frames: list[dict[str, Any]]) -> str:
    return "".join(f["content"] for f in frames if f["type"] == "token")
