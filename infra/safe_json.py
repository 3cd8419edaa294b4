"""JSON and text from outside (client frames, request bodies, a model's answer), checked before
anything else sees them.

- Nesting is bounded: the C decoder stops a deep document with ``RecursionError`` (a 1011 or a
  500 if it escapes), and anything that walks a document of a few hundred levels later (a
  serializer, a logger) can hit it again; documents deeper than ``MAX_DEPTH`` are refused.
- Text must be storable by PostgreSQL: psycopg refuses a NUL character and a lone surrogate (it
  encodes to UTF-8), and it does so at the end of a turn, after the model was called and paid for.
  Client text with either is refused at the edge; a model's text has them replaced (``storable``).
"""

import json
from typing import Any

import orjson

MAX_DEPTH = 32
REPLACEMENT = "\ufffd"


class UnsafeJSON(ValueError):
    """Not JSON the platform accepts; the message says why, for the client."""


def _refuse_constant(name: str) -> None:
    raise UnsafeJSON(f"{name} is not valid JSON")


def loads(raw: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``raw``; raise ``UnsafeJSON`` for invalid, too deep or unstorable documents."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise UnsafeJSON("not valid UTF-8") from None
    except RecursionError:
        raise UnsafeJSON(f"JSON nested deeper than {max_depth} levels") from None
    except UnsafeJSON:
        raise
    except ValueError:
        raise UnsafeJSON("not valid JSON") from None
    check_document(value, max_depth=max_depth)
    return value


def check_document(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``UnsafeJSON`` if a decoded document nests deeper than ``max_depth`` or holds text
    PostgreSQL cannot store (in a value or a key). Iterative: a deep document cannot overflow it."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise UnsafeJSON(f"JSON nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def unstorable(text: str) -> str | None:
    """What in ``text`` PostgreSQL cannot store (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "a NUL character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate"
    return None


def _check_text(text: str) -> None:
    reason = unstorable(text)
    if reason is not None:
        raise UnsafeJSON(f"text must not contain {reason}")


def storable(text: str) -> str:
    """``text`` with what PostgreSQL cannot store replaced by U+FFFD (for a model's output, which
    is kept whatever it holds: it was paid for)."""
    if unstorable(text) is None:
        return text
    return "".join(REPLACEMENT if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text)


def dumps(value: Any) -> str:
    """Compact JSON text of an outgoing frame: orjson (a tenth of ``json.dumps``'s CPU for a
    frame), or, for text it refuses (a lone surrogate from a model), ``json.dumps``, which
    escapes it."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))
