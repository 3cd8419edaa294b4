"""The support workflow's reading of messages: a user asking for a human in words."""

import re

_HUMAN = re.compile(
    r"\b(?:talk|speak|chat|connect me)\s+(?:to|with)\s+(?:a\s+|an\s+|some\s*one\s*|somebody\s*)?"
    r"(?:real\s+|live\s+)?(?:human|person|agent|representative|operator|someone|somebody)\b"
    r"|\b(?:human|real|live)\s+(?:agent|person|being|support)\b"
    r"|\bescalate\b",
    re.IGNORECASE,
)


def asks_for_human(text: str) -> bool:
    return _HUMAN.search(text) is not None
