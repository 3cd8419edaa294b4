"""Sections into chunks for retrieval: whole paragraphs up to ``TARGET_TOKENS`` a chunk, never
across a heading, each chunk starting with the end of the one before (``OVERLAP_TOKENS``) so a
fact cut at a boundary is still whole in one of them. A paragraph too long on its own is cut at
sentence ends (at worst at ``TARGET_TOKENS``)."""

import re
from dataclasses import dataclass

from chat.gateway.llm.tokens import estimate_tokens
from knowledge.extract import Section

TARGET_TOKENS = 200
OVERLAP_TOKENS = 40
_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class Piece:
    heading: str
    text: str


def chunks_of(sections: list[Section]) -> list[Piece]:
    pieces: list[Piece] = []
    for section in sections:
        current: list[str] = []
        size = 0
        for paragraph in _paragraphs(section.text):
            cost = estimate_tokens(paragraph)
            if current and size + cost > TARGET_TOKENS:
                pieces.append(Piece(section.heading, "\n\n".join(current)))
                tail = _tail(current[-1])
                current, size = ([tail], estimate_tokens(tail)) if tail else ([], 0)
            current.append(paragraph)
            size += cost
        if current:
            pieces.append(Piece(section.heading, "\n\n".join(current)))
    return pieces


def _paragraphs(text: str) -> list[str]:
    out: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        if estimate_tokens(paragraph) <= TARGET_TOKENS:
            out.append(paragraph)
            continue
        out.extend(_cut(paragraph))
    return out


def _cut(paragraph: str) -> list[str]:
    """A long paragraph at sentence ends; a sentence longer than a chunk at its limit."""
    limit = TARGET_TOKENS * 4  # characters (``estimate_tokens``: four characters a token)
    parts: list[str] = []
    current = ""
    for sentence in _SENTENCE.split(paragraph):
        while len(sentence) > limit:
            parts.append(sentence[:limit])
            sentence = sentence[limit:]
        if current and len(current) + len(sentence) + 1 > limit:
            parts.append(current)
            current = ""
        current = f"{current} {sentence}".strip()
    if current:
        parts.append(current)
    return parts


def _tail(paragraph: str) -> str:
    """The last ``OVERLAP_TOKENS`` of a paragraph, from a word boundary."""
    limit = OVERLAP_TOKENS * 4
    if len(paragraph) <= limit:
        return paragraph
    cut = paragraph[-limit:]
    return cut[cut.find(" ") + 1 :] if " " in cut else cut
