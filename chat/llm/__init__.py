"""The LLM gateway: picks the provider that answers this process's requests."""

import asyncio
import weakref

import httpx2
from django.conf import settings
from openai import AsyncOpenAI

from chat.llm.base import ChatRequest, LLMProvider, StreamChunk, UpstreamError, Usage
from chat.llm.demo_provider import DemoProvider
from chat.llm.openai_provider import OpenAIProvider

__all__ = ["ChatRequest", "LLMProvider", "StreamChunk", "UpstreamError", "Usage", "get_provider"]

# An AsyncOpenAI client owns a connection pool bound to the event loop that opened it.
_openai_providers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[tuple[str, str | None], OpenAIProvider]]" = weakref.WeakKeyDictionary()  # noqa: E501


def get_provider() -> LLMProvider:
    """The OpenAI-compatible provider when a key is set, else the offline demo model."""
    if not settings.OPENAI_API_KEY:
        return DemoProvider(chunk_delay=settings.DEMO_MODEL_CHUNK_DELAY)
    loop = asyncio.get_running_loop()
    key = (settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL)
    cached = _openai_providers.get(loop)
    if cached is None or cached[0] != key:
        client = AsyncOpenAI(
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL,
            max_retries=settings.OPENAI_MAX_RETRIES,
            timeout=httpx2.Timeout(settings.OPENAI_READ_TIMEOUT, connect=settings.OPENAI_CONNECT_TIMEOUT),
        )
        cached = (key, OpenAIProvider(client))
        _openai_providers[loop] = cached
    return cached[1]
