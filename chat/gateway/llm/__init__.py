"""The LLM gateway: picks the provider that answers this process's requests."""

import asyncio
import functools
import ssl
import weakref

import certifi
import httpx2
from django.conf import settings
from openai import AsyncOpenAI, DefaultAioHttpClient, DefaultAsyncHttpxClient

from chat.gateway.llm.base import ChatRequest, LLMProvider, StreamChunk, ToolCallDelta, UpstreamError, Usage
from chat.gateway.llm.demo_provider import DemoProvider
from chat.gateway.llm.openai_provider import OpenAIProvider

__all__ = [
    "ChatRequest",
    "LLMProvider",
    "StreamChunk",
    "ToolCallDelta",
    "UpstreamError",
    "Usage",
    "get_provider",
    "provider_close",
]

# An AsyncOpenAI client owns a connection pool bound to the event loop that opened it.
_ProviderKey = tuple[str, str | None, int, str]
_openai_providers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[_ProviderKey, OpenAIProvider]]"
_openai_providers = weakref.WeakKeyDictionary()


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client of the process (the SDK's default trust store). Making
    one loads the CA bundle, 40 ms of CPU, and clients are made per event loop: each Celery task
    runs its own loop (``asyncio.run``), and built eight of them for every title."""
    return ssl.create_default_context(cafile=certifi.where())


def get_provider(*, connection_pools: int | None = None) -> LLMProvider:
    """The OpenAI-compatible provider when a key is set, else the offline demo model.
    ``connection_pools``: its clients, ``OPENAI_CONNECTION_POOLS`` unless a loop that makes one
    call and ends (a Celery task's) asks for fewer: each client costs as much to make as the call."""
    if not settings.OPENAI_API_KEY:
        return DemoProvider(chunk_delay=settings.DEMO_MODEL_CHUNK_DELAY)
    loop = asyncio.get_running_loop()
    pools = connection_pools or settings.OPENAI_CONNECTION_POOLS
    key = (settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, pools, settings.OPENAI_HTTP_CLIENT)
    cached = _openai_providers.get(loop)
    if cached is None or cached[0] != key:
        timeout = httpx2.Timeout(settings.OPENAI_READ_TIMEOUT, connect=settings.OPENAI_CONNECT_TIMEOUT)
        transport = (
            DefaultAioHttpClient if settings.OPENAI_HTTP_CLIENT == "aiohttp" else DefaultAsyncHttpxClient
        )
        clients = [
            AsyncOpenAI(
                api_key=settings.OPENAI_API_KEY,
                base_url=settings.OPENAI_BASE_URL,
                max_retries=settings.OPENAI_MAX_RETRIES,
                timeout=timeout,
                http_client=transport(timeout=timeout, verify=_tls()),
            )
            for _ in range(pools)
        ]
        cached = (key, OpenAIProvider(clients))
        _openai_providers[loop] = cached
    return cached[1]


async def provider_close() -> None:
    """Close this event loop's clients to the LLM endpoint, for a loop that ends (a Celery
    task's): their connections would otherwise stay open until garbage collection."""
    cached = _openai_providers.pop(asyncio.get_running_loop(), None)
    if cached is not None:
        await cached[1].aclose()
