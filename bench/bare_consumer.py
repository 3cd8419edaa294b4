"""The reference of ``bench/ceiling.py``: a bare Channels consumer served by Daphne on uvloop (as
the platform is), answering each chat message with the frames the platform sent for one answer,
and nothing else: no authentication, limits, budgets, caches, database, Redis or model.

    python -m bench.bare_consumer FRAMES.json [--upstream URL [--durable DATABASE_URL REDIS_URL]]
        [daphne options]

FRAMES.json: ``{"ready": {...}, "answer": [{...}, ...]}``, recorded from the platform by the
benchmark. Each answer's frames are sent one by one with the ``message_id`` of the message they
answer, as the platform sends them.

With ``--upstream`` (an OpenAI-compatible base URL) the answer's tokens come from the model
instead, streamed through the platform's own provider (the official SDK on its aiohttp transport,
the raw SSE reading): the floor that any answer through the SDK costs, whatever else the platform
does. The recorded frames around the tokens are sent as recorded.

With ``--durable DATABASE_URL REDIS_URL`` as well, each message also does the least a platform
that keeps history and enforces limits must do, with the stock parts a Django platform uses
(redis-py's asyncio client, Django's PostgreSQL backend with its psycopg pool, reached through
Channels' ``database_sync_to_async`` off the loop): one Redis script admitting the message (a
per-user counter), one read of the conversation's last message from PostgreSQL, the answer, one
transaction writing the question and the answer, one Redis script settling the tokens. The
durable floor: what storing and limiting cost on top of the SDK floor, done as plainly as can be.
"""

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import uvloop

FRAMES: dict[str, Any] = {}


def application_for(frames: dict[str, Any], upstream: str | None, durable: list[str] | None) -> Any:
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    ready, answer = frames["ready"], frames["answer"]
    first_token = next(i for i, f in enumerate(answer) if f["type"] == "token")
    before, token = answer[:first_token], answer[first_token]
    after = [f for f in answer[first_token:] if f["type"] != "token"]
    provider: Any = None
    store = DurableStore(durable[1]) if durable else None

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
            content = str(frame.get("content", ""))
            conversation = id(self)
            if store is not None:
                await store.admit(conversation)
                await store.last_message(conversation)
            for each in before:
                await self.send_frame(each)
            parts = []
            async for chunk in sdk_provider().stream(request_for(content)):
                if chunk.text:
                    parts.append(chunk.text)
                    await self.send_frame({**token, "text": chunk.text})
            if store is not None:
                await store.record(conversation, content, "".join(parts))
                await store.settle(conversation, len(parts))
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


# The per-user counter of a minute's window, and the month's tokens: a script each, as a platform's
# limits are (one round trip, atomic).
ADMIT = "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('EXPIRE', KEYS[1], 60) end return n"
SETTLE = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


class DurableStore:
    """The durable floor's PostgreSQL and Redis work (see the module's docstring)."""

    def __init__(self, redis_url: str) -> None:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(redis_url)
        self.admit_script = client.register_script(ADMIT)  # EVALSHA
        self.settle_script = client.register_script(SETTLE)

    async def admit(self, conversation: int) -> None:
        await self.admit_script(keys=[f"bench:rate:{conversation}"])

    async def settle(self, conversation: int, tokens: int) -> None:
        await self.settle_script(keys=[f"bench:tokens:{conversation}"], args=[tokens])

    async def last_message(self, conversation: int) -> None:
        from infra.db import in_db_thread  # the platform's own way off the loop (after settings)

        await in_db_thread(_last_message)(conversation)

    async def record(self, conversation: int, question: str, answer: str) -> None:
        from infra.db import in_db_thread

        await in_db_thread(_record)(conversation, question, answer)


def _last_message(conversation: int) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, content FROM bench_durable_floor WHERE conversation = %s ORDER BY id DESC LIMIT 1",
            [conversation],
        )
        return cursor.fetchone()


def _record(conversation: int, question: str, answer: str) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO bench_durable_floor (conversation, role, content) VALUES (%s, %s, %s)",
            [(conversation, "user", question), (conversation, "assistant", answer)],
        )


def _durable_settings(database_url: str) -> dict[str, Any]:
    import dj_database_url

    database = dj_database_url.parse(database_url, conn_max_age=0)
    database["OPTIONS"] = {"pool": {"min_size": 2, "max_size": 20}}
    return {"default": database}


def _create_table() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_durable_floor (id bigserial PRIMARY KEY, conversation bigint "
            "NOT NULL, role text NOT NULL, content text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
        )
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS bench_durable_floor_conv ON bench_durable_floor (conversation, id)"
        )
    connection.close()


def main() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from django.conf import settings

    frames = json.loads(Path(sys.argv.pop(1)).read_text())
    upstream = durable = None
    if sys.argv[1:2] == ["--upstream"]:
        upstream = sys.argv.pop(2)
        sys.argv.pop(1)
    if sys.argv[1:2] == ["--durable"]:
        durable = [sys.argv.pop(2), sys.argv.pop(2)]
        sys.argv.pop(1)
    databases = _durable_settings(durable[0]) if durable else {}
    settings.configure(INSTALLED_APPS=["channels"], ALLOWED_HOSTS=["*"], USE_TZ=True, DATABASES=databases)
    import django

    django.setup()
    if durable:
        _create_table()
    module = sys.modules[__name__]
    module.application = application_for(frames, upstream, durable)  # type: ignore[attr-defined]
    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
