"""The reference of ``bench/ceiling.py``: a bare Channels consumer served by Daphne on uvloop (as
the platform is), answering each chat message with the frames the platform sent for one answer,
and nothing else: no authentication, limits, budgets, caches, database, Redis or model.

    python -m bench.bare_consumer FRAMES.json [--upstream URL] [daphne options]

FRAMES.json: ``{"ready": {...}, "answer": [{...}, ...]}``, recorded from the platform by the
benchmark. Each answer's frames are sent one by one with the ``message_id`` of the message they
answer, as the platform sends them.

With ``--upstream`` (an OpenAI-compatible base URL) the answer's tokens come from the model
instead, streamed through the platform's own provider (the official SDK on its aiohttp transport,
the raw SSE reading): the floor that any answer through the SDK costs, whatever else the platform
does. The recorded frames around the tokens are sent as recorded.
"""

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import uvloop

FRAMES: dict[str, Any] = {}


def application_for(frames: dict[str, Any], upstream: str | None) -> Any:
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    ready, answer = frames["ready"], frames["answer"]
    first_token = next(i for i, f in enumerate(answer) if f["type"] == "token")
    before, token = answer[:first_token], answer[first_token]
    after = [f for f in answer[first_token:] if f["type"] != "token"]
    provider: Any = None

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
            if upstream is None:
                for each in answer:
                    await self.send_frame(each)
                return
            for each in before:
                await self.send_frame(each)
            async for chunk in sdk_provider().stream(request_for(frame.get("content", ""))):
                if chunk.text:
                    await self.send_frame({**token, "text": chunk.text})
            for each in after:
                await self.send_frame(each)

        async def send_frame(self, frame: dict[str, Any]) -> None:
            if "message_id" in frame:
                frame = {**frame, "message_id": Bare.next_id}
            await self.send(text_data=json.dumps(frame))

    def sdk_provider() -> Any:
        """The platform's provider as the platform makes it (made on the serving loop)."""
        nonlocal provider
        if provider is None:
            from openai import AsyncOpenAI, DefaultAioHttpClient

            from chat.gateway.llm.openai_provider import OpenAIProvider

            clients = [
                AsyncOpenAI(
                    api_key="sk-bench", base_url=upstream, max_retries=0, http_client=DefaultAioHttpClient()
                )
                for _ in range(8)  # the platform's OPENAI_CONNECTION_POOLS
            ]
            provider = OpenAIProvider(clients)
        return provider

    def request_for(content: str) -> Any:
        from chat.gateway.llm.base import ChatRequest

        return ChatRequest(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": content}],
            max_tokens=512,
            temperature=0.3,
            end_user="bench",
        )

    return ProtocolTypeRouter({"websocket": URLRouter([path("ws/chat/", Bare.as_asgi())])})


def main() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from django.conf import settings

    settings.configure(INSTALLED_APPS=["channels"], ALLOWED_HOSTS=["*"], USE_TZ=True)
    import django

    django.setup()
    frames = json.loads(Path(sys.argv.pop(1)).read_text())
    upstream = None
    if sys.argv[1:2] == ["--upstream"]:
        upstream = sys.argv.pop(2)
        sys.argv.pop(1)
    module = sys.modules[__name__]
    module.application = application_for(frames, upstream)  # type: ignore[attr-defined]
    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
