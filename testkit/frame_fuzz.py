"""Hostile client frames for the WebSocket fuzzer (``test_live_contract``): structured frames of
every type with wrong, extreme and unstorable values, deep nesting and extra keys, and mutations
of valid frames (characters dropped, inserted, repeated; cut short). Seeded: a failure names
the seed that reproduces it."""

import json
import random
import uuid
from collections.abc import Iterator
from typing import Any

TYPES = ["message", "cancel", "ping", "pong", "feedback", "resume", "resolve", "escalate"]
FIELDS = ["type", "content", "client_id", "message_id", "after", "rating", "comment", "reason", "replaces"]
# Escaped as a client's JSON encoder would send them: "\\u0000", "\\ud800".
STRANGE_TEXT = ["", " ", "\u0000", "hi\u0000x", "\ud800", "a\udfffb", "\u202e", "🙂" * 50, "x" * 9000, "%s%n"]
STRANGE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**31,
    2**63,
    -(2**63),
    10**30,
    1.5,
    -0.0,
    1e308,
    "1",
    [],
    {},
    [1],
    {"a": 1},
]


def _value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(STRANGE_VALUES)
    if roll < 0.65:
        return rng.choice(STRANGE_TEXT)
    if roll < 0.8:
        return str(uuid.UUID(int=rng.getrandbits(128)))
    depth = rng.choice([2, 20, 40, 200])
    value: Any = rng.choice(STRANGE_VALUES)
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


def _structured(rng: random.Random) -> str:
    frame: dict[str, Any] = {"type": rng.choice([*TYPES, *TYPES, "dance", "", 7, None])}
    for field in rng.sample(FIELDS[1:], rng.randint(0, 4)):
        frame[field] = _value(rng)
    if rng.random() < 0.1:
        frame[rng.choice(STRANGE_TEXT[:6])] = _value(rng)
    if rng.random() < 0.5:  # well-formed but for its text: the paths past the type checks
        text = rng.choice([*STRANGE_TEXT, "hello [[tokens=2]]"])
        frame.update(
            client_id=str(uuid.UUID(int=rng.getrandbits(128))),
            content=text,
            message_id=rng.randint(1, 10**6),
            rating=rng.randint(1, 5),
            comment=text,
            reason=text,
        )
    return json.dumps(frame)


def _valid(rng: random.Random) -> str:
    frame_type = rng.choice(TYPES)
    frame: dict[str, Any] = {"type": frame_type}
    if frame_type == "message":
        frame.update(content=f"fuzz {rng.randint(0, 999)} [[tokens=3]]", client_id=str(uuid.uuid4()))
    elif frame_type in {"feedback", "resume", "cancel"}:
        frame.update(message_id=rng.randint(1, 10**6), after=0, rating=rng.randint(1, 5))
    return json.dumps(frame)


def _mutated(rng: random.Random) -> str:
    text = list(_valid(rng))
    for _ in range(rng.randint(1, 5)):
        where = rng.randrange(len(text) + 1)
        action = rng.random()
        if action < 0.3 and text:
            del text[min(where, len(text) - 1)]
        elif action < 0.6:
            text.insert(where, rng.choice('{}[]",:\\ \t\n\x00\x7fé0-eE.'))
        elif action < 0.8:
            text[where:where] = text[where : where + rng.randint(1, 8)] * rng.randint(2, 50)
        else:
            text = text[:where]
    return "".join(text)


def frames(seed: int, count: int) -> Iterator[str]:
    """``count`` frames, each at most 32 KiB more or less (the server's own limit is tried too)."""
    rng = random.Random(seed)
    for _ in range(count):
        roll = rng.random()
        yield _structured(rng) if roll < 0.5 else _mutated(rng) if roll < 0.9 else _valid(rng)
