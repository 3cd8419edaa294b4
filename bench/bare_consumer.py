"""The reference of ``bench/ceiling.py``: a bare Channels consumer served by Daphne on uvloop (as
the platform is), answering each chat message with the frames the platform sent for one answer,
and nothing else: no authentication, limits, budgets, caches, database, Redis or model.

    python -m bench.bare_consumer FRAMES.json [daphne options]

FRAMES.json: ``{"ready": {...}, "answer": [{...}, ...]}``, recorded from the platform by the
benchmark. Each answer's frames are sent one by one with the ``message_id`` of the message they
answer, as the platform sends them.
"""

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import uvloop

FRAMES: dict[str, Any] = {}


def application_for(frames: dict[str, Any]) -> Any:
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    ready, answer = frames["ready"], frames["answer"]

    class Bare(AsyncWebsocketConsumer):
        next_id = 1

        async def connect(self) -> None:
            await self.accept("chat.v1")
            await self.send(text_data=json.dumps(ready))

        async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
            frame = json.loads(text_data or "{}")
            if frame.get("type") != "message":
                return
            Bare.next_id += 1
            for each in answer:
                if "message_id" in each:
                    each = {**each, "message_id": Bare.next_id}
                await self.send(text_data=json.dumps(each))

    return ProtocolTypeRouter({"websocket": URLRouter([path("ws/chat/", Bare.as_asgi())])})


def main() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from django.conf import settings

    settings.configure(INSTALLED_APPS=["channels"], ALLOWED_HOSTS=["*"], USE_TZ=True)
    import django

    django.setup()
    frames = json.loads(Path(sys.argv.pop(1)).read_text())
    module = sys.modules[__name__]
    module.application = application_for(frames)  # type: ignore[attr-defined]
    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
