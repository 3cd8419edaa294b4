"""Token estimates for when a provider reports no usage (a cancelled or broken stream).

No tokenizer files can be fetched at run time here, so this counts about four characters per
token, the usual figure for English text with OpenAI's tokenizers; the result is marked as
estimated wherever it is stored.
"""

import json
import math
from typing import Any

# Per-message framing the chat format adds (role markers and separators).
MESSAGE_OVERHEAD = 4
# What an image in a message is counted as (OpenAI bills a detailed image at 765 to ~1,100).
IMAGE_TOKENS = 1000


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Text, images, and the tool calls an assistant message carries (names and arguments)."""
    return (
        sum(
            _content_tokens(m.get("content"))
            + sum(estimate_tokens(json.dumps(call)) for call in m.get("tool_calls") or ())
            + MESSAGE_OVERHEAD
            for m in messages
        )
        + 2
    )


def _content_tokens(content: str | list[dict[str, Any]] | None) -> int:
    """A message's text, or its parts: text, and images (``IMAGE_TOKENS`` each)."""
    if isinstance(content, list):
        return sum(
            estimate_tokens(part.get("text") or "") if part.get("type") == "text" else IMAGE_TOKENS
            for part in content
        )
    return estimate_tokens(content or "")
