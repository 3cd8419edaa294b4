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


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Text, and the tool calls an assistant message carries (their names and arguments)."""
    return (
        sum(
            estimate_tokens(m.get("content") or "")
            + sum(estimate_tokens(json.dumps(call)) for call in m.get("tool_calls") or ())
            + MESSAGE_OVERHEAD
            for m in messages
        )
        + 2
    )
