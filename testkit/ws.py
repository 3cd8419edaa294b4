"""Helpers to speak protocol v1 through Channels' communicator (the real ASGI app)."""

import json
import uuid
from typing import Any

from channels.testing import WebsocketCommunicator

from chatplatform.asgi import application

TIMEOUT = 10


class ChatCommunicator(WebsocketCommunicator):
    """A communicator that passes over the frames the server pushes at any moment, unrelated to
    what a test waits for: a conversation's ``title``, written by a worker after its first answer
    (a test that wants them empties ``skipped``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skipped = {"title"}
        self._held: list[dict[str, Any]] = []  # a frame ``receive_nothing`` had to take

    async def receive_json_from(self, timeout: float = 1) -> Any:
        while True:
            frame = self._held.pop(0) if self._held else await super().receive_json_from(timeout)
            if not (isinstance(frame, dict) and frame.get("type") in self.skipped):
                return frame

    async def receive_nothing(self, timeout: float = 0.1, interval: float = 0.01) -> bool:
        if self._held:
            return False
        while not await super().receive_nothing(timeout, interval):
            output = await self.receive_output()
            frame = (
                json.loads(output["text"])
                if output.get("type") == "websocket.send" and output.get("text")
                else None
            )
            if not (isinstance(frame, dict) and frame.get("type") in self.skipped):
                if frame is None:
                    raise AssertionError(f"expected nothing, got {output}")
                self._held.append(frame)
                return False
        return True


async def connect(
    path: str = "/ws/chat/",
    *,
    token: str | None = None,
    via: str = "subprotocol",
    headers: list[tuple[bytes, bytes]] | None = None,
    subprotocols: list[str] | None = None,
) -> tuple[ChatCommunicator, bool, Any]:
    if token is not None and via == "subprotocol":
        subprotocols = ["chat.v1", f"bearer.{token}"]
    elif token is not None:
        path = f"{path}?token={token}"
    communicator = ChatCommunicator(application, path, headers=headers or [], subprotocols=subprotocols)
    connected, detail = await communicator.connect(timeout=TIMEOUT)
    return communicator, connected, detail


async def open_chat(token: str, path: str = "/ws/chat/") -> tuple[ChatCommunicator, dict[str, Any]]:
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


async def closed_with(communicator: WebsocketCommunicator, code: int) -> None:
    """Past the frames still coming (a last answer's, an error), the close, with ``code``."""
    while True:
        output = await communicator.receive_output(TIMEOUT)
        if output["type"] == "websocket.close":
            assert output["code"] == code
            return


def streamed_text(frames: list[dict[str, Any]]) -> str:
    return "".join(f["content"] for f in frames if f["type"] == "token")
