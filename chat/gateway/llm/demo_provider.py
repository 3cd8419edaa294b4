"""The offline demo model: a deterministic markdown answer streamed at a realistic pace.

It answers when no ``OPENAI_API_KEY`` is set, so the platform runs end to end on any machine,
and every answer says plainly that it comes from the demo model.
"""

import asyncio
import re
from collections.abc import AsyncGenerator

from billing.seeds import DEMO_MODEL
from chat.gateway.llm.base import ChatRequest, StreamChunk, Usage
from chat.gateway.llm.tokens import estimate_prompt_tokens, estimate_tokens

_PIECE = re.compile(r"\s*\S+|\s+")


def demo_answer(question: str) -> str:
    quoted = " ".join(question.split())[:200] or "(empty message)"
    return (
        "**This is the offline demo model**, not a real LLM: no `OPENAI_API_KEY` is set, "
        "so every answer looks like this one.\n\n"
        f"You asked:\n\n> {quoted}\n\n"
        "What a real model would do here:\n\n"
        "1. read your tenant's system prompt and the recent conversation,\n"
        "2. stream its answer token by token, as this one is streamed,\n"
        "3. report its token usage, which is priced and billed to your tenant.\n\n"
        "```python\n"
        "# Point the platform at any OpenAI-compatible endpoint:\n"
        'OPENAI_API_KEY = "sk-..."\n'
        'OPENAI_BASE_URL = "https://api.openai.com/v1"\n'
        "```\n"
    )


class DemoProvider:
    name = "demo"

    def __init__(self, chunk_delay: float) -> None:
        self._chunk_delay = chunk_delay

    def model_name(self, requested: str) -> str:
        return DEMO_MODEL

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamChunk, None]:
        question = next((m["content"] for m in reversed(request.messages) if m["role"] == "user"), "")
        if isinstance(question, list):  # text and images: the demo model reads the text
            question = " ".join(part.get("text", "") for part in question if part.get("type") == "text")
        pieces = _PIECE.findall(demo_answer(question))
        sent: list[str] = []
        finish_reason = "stop"
        for piece in pieces:
            if estimate_tokens("".join(sent) + piece) > request.max_tokens:
                finish_reason = "length"
                break
            await asyncio.sleep(self._chunk_delay)
            sent.append(piece)
            yield StreamChunk(text=piece)
        usage = Usage(
            input_tokens=estimate_prompt_tokens(request.messages),
            output_tokens=estimate_tokens("".join(sent)),
        )
        yield StreamChunk(finish_reason=finish_reason, usage=usage)
