"""Any OpenAI-compatible endpoint through the official SDK's ``AsyncOpenAI`` streaming."""

from collections.abc import AsyncGenerator
from typing import cast

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from chat.llm.base import ChatRequest, StreamChunk, UpstreamError, Usage


class OpenAIProvider:
    name = "openai"

    def __init__(self, client: AsyncOpenAI) -> None:
        self._client = client

    def model_name(self, requested: str) -> str:
        return requested

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamChunk, None]:
        try:
            stream = await self._client.chat.completions.create(
                model=request.model,
                messages=cast(list[ChatCompletionMessageParam], request.messages),
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                stream=True,
                stream_options={"include_usage": True},
                user=request.end_user,
            )
        except openai.APIError as exc:
            raise UpstreamError(_describe(exc)) from exc
        try:
            async for chunk in stream:
                usage = None
                if chunk.usage is not None:
                    details = chunk.usage.prompt_tokens_details
                    usage = Usage(
                        input_tokens=chunk.usage.prompt_tokens,
                        output_tokens=chunk.usage.completion_tokens,
                        cached_input_tokens=(details.cached_tokens or 0) if details else 0,
                    )
                if not chunk.choices:
                    if usage is not None:
                        yield StreamChunk(usage=usage)
                    continue
                choice = chunk.choices[0]
                text = choice.delta.content if choice.delta else None
                if text or choice.finish_reason or usage:
                    yield StreamChunk(text=text or "", finish_reason=choice.finish_reason, usage=usage)
        except openai.APIError as exc:
            raise UpstreamError(_describe(exc)) from exc
        finally:
            # Runs on cancellation too: the upstream HTTP stream is closed at once, so the
            # provider stops generating (and billing) tokens nobody will read.
            await stream.close()


def _describe(exc: openai.APIError) -> str:
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__} ({status}): {exc.message}" if status else type(exc).__name__
