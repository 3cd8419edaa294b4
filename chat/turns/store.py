"""Where generations are known beyond the process that runs them: the interface, and the
in-process implementation of the embedded default.

A generation (one answer being produced) is named by its tenant and answer ``message_id``. The
store keeps, per generation:

- the **claim** of its ``client_id``, taken before anything else happens to a message, so that
  a second ``message`` with the same id never starts a second upstream call: it joins the first;
- its **frames**, in order, so that a client that reconnects to any instance can ``resume``;
- its **info** (owner, conversation, last ``seq``, finished or not) and its **record** (what the
  reaper needs to store and bill it if the process running it dies);
- a **lease**, renewed by the process running it; a lapsed lease means that process is gone.

``RedisGenerationStore`` (``chat.turns.redis_store``) shares all of it between instances;
``MemoryGenerationStore`` keeps it in the one process of the embedded default. One contract test
module runs against both (``tests/test_generation_store_contract.py``).
"""

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import Protocol

from chat.frames import Frame
from infra import safe_json

# The entry id of a stream before its first entry.
START = "0-0"


class GenerationStoreUnavailable(Exception):
    """The store cannot be reached: a message is refused (``SERVICE_UNAVAILABLE``) rather than
    answered without its claim, which would allow a second upstream call."""


@dataclass(frozen=True, slots=True)
class GenKey:
    tenant_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class GenerationInfo:
    key: GenKey
    user_id: int
    conversation_id: int
    client_id: str
    # Nobody attached for this long: cancelled. Followers on other instances say they are there
    # more often than that.
    orphan_grace_s: float = 60.0
    finished: bool = False
    last_seq: int = 0  # the last token frame's (``resumable`` fills it in)
    # Unix time a follower on another instance last said it was attached (0: never).
    watched_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Claim:
    """Who holds a ``client_id``. ``won``: the caller just took it. ``message_id`` is None while
    the holder is still preparing its turn (its generation has not begun)."""

    won: bool
    user_id: int
    message_id: int | None


# A frame as the store returns it: (its entry id, the frame); the end marker's frame is None.
Entry = tuple[str, Frame | None]


class GenerationStore(Protocol):
    async def claim(self, *, tenant_id: int, client_id: str, user_id: int, ttl_s: float) -> Claim:
        """Take ``client_id`` for ``user_id`` (atomically), or say who holds it."""
        ...

    async def release(self, *, tenant_id: int, client_id: str, user_id: int) -> None:
        """Give up a claim whose generation never began (a refused or replayed message)."""
        ...

    async def begin(self, *, info: GenerationInfo, record: str, lease_ttl_s: float, keep_s: float) -> None:
        """The generation starts: its claim points to it, its info and record are stored, its
        lease is taken and it is listed in its conversation. One atomic step."""
        ...

    async def append(self, frames: list[tuple[GenKey, Frame]]) -> None:
        """Add frames to their generations' streams, in order."""
        ...

    async def finish(self, *, key: GenKey, keep_s: float) -> None:
        """Close the stream (an end marker), drop the lease; everything lapses ``keep_s`` later."""
        ...

    async def renew(self, *, keys: list[GenKey], lease_ttl_s: float) -> None: ...

    async def info(self, key: GenKey) -> GenerationInfo | None: ...

    async def record(self, key: GenKey) -> str | None: ...

    async def read(self, key: GenKey, *, after: str = START) -> list[Entry]:
        """Every entry after the entry id ``after``."""
        ...

    async def follow(self, key: GenKey, *, after: str, block_s: float) -> list[Entry]:
        """The entries after ``after``, waiting up to ``block_s`` for one to come."""
        ...

    async def watch(self, key: GenKey) -> None:
        """A follower on another instance is attached (it says so every few seconds)."""
        ...

    async def resumable(self, *, tenant_id: int, conversation_id: int, user_id: int) -> list[GenerationInfo]:
        """The user's generations in the conversation whose frames are still kept."""
        ...

    async def lapsed(self, *, limit: int) -> list[GenKey]:
        """Generations whose lease lapsed: their process stopped renewing them."""
        ...

    async def take(self, key: GenKey) -> bool:
        """Take a lapsed generation over (for the reaper): True for exactly one caller."""
        ...


def encode_frame(frame: Frame) -> str:
    return safe_json.dumps(frame)


def claim_value(user_id: int, message_id: int | None) -> str:
    return f"{user_id}:{message_id or 0}"


def parse_claim(value: str, *, won: bool) -> Claim:
    user_id, message_id = value.split(":")
    return Claim(won=won, user_id=int(user_id), message_id=int(message_id) or None)


@dataclass
class _Generation:
    info: GenerationInfo
    record: str
    entries: list[tuple[int, Frame | None]] = field(default_factory=list)
    expires_at: float = float("inf")
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class MemoryGenerationStore:
    """The embedded default's store: one process, one event loop; no method awaits in the middle
    of a change, so each is atomic."""

    def __init__(self) -> None:
        self._claims: dict[tuple[int, str], tuple[str, float]] = {}
        self._generations: dict[GenKey, _Generation] = {}
        self._leases: dict[GenKey, float] = {}

    def _live(self, key: GenKey) -> _Generation | None:
        generation = self._generations.get(key)
        if generation is not None and generation.expires_at <= time.monotonic():
            del self._generations[key]
            return None
        return generation

    async def claim(self, *, tenant_id: int, client_id: str, user_id: int, ttl_s: float) -> Claim:
        now = time.monotonic()
        held = self._claims.get((tenant_id, client_id))
        if held is not None and held[1] > now:
            return parse_claim(held[0], won=False)
        self._claims[(tenant_id, client_id)] = (claim_value(user_id, None), now + ttl_s)
        return Claim(won=True, user_id=user_id, message_id=None)

    async def release(self, *, tenant_id: int, client_id: str, user_id: int) -> None:
        held = self._claims.get((tenant_id, client_id))
        if held is not None and held[0] == claim_value(user_id, None):
            del self._claims[(tenant_id, client_id)]

    async def begin(self, *, info: GenerationInfo, record: str, lease_ttl_s: float, keep_s: float) -> None:
        now = time.monotonic()
        key = info.key
        self._claims[(key.tenant_id, info.client_id)] = (
            claim_value(info.user_id, key.message_id),
            now + keep_s,
        )
        self._generations[key] = _Generation(info=info, record=record, expires_at=now + keep_s)
        self._leases[key] = time.time() + lease_ttl_s

    async def append(self, frames: list[tuple[GenKey, Frame]]) -> None:
        for key, frame in frames:
            generation = self._live(key)
            if generation is None:
                continue
            generation.entries.append((len(generation.entries) + 1, frame))
            if frame.get("type") == "token":
                generation.info = replace(generation.info, last_seq=frame["seq"])
            _wake(generation)

    async def finish(self, *, key: GenKey, keep_s: float) -> None:
        self._leases.pop(key, None)
        generation = self._live(key)
        if generation is None:
            return
        generation.entries.append((len(generation.entries) + 1, None))
        generation.info = replace(generation.info, finished=True)
        generation.expires_at = time.monotonic() + keep_s
        _wake(generation)

    async def renew(self, *, keys: list[GenKey], lease_ttl_s: float) -> None:
        for key in keys:
            if key in self._leases:
                self._leases[key] = time.time() + lease_ttl_s

    async def info(self, key: GenKey) -> GenerationInfo | None:
        generation = self._live(key)
        return generation.info if generation is not None else None

    async def record(self, key: GenKey) -> str | None:
        generation = self._live(key)
        return generation.record if generation is not None else None

    async def read(self, key: GenKey, *, after: str = START) -> list[Entry]:
        generation = self._live(key)
        if generation is None:
            return []
        position = int(after.split("-")[0])
        return [(f"{n}-0", frame) for n, frame in generation.entries[position:]]

    async def follow(self, key: GenKey, *, after: str, block_s: float) -> list[Entry]:
        entries = await self.read(key, after=after)
        generation = self._live(key)
        if entries or generation is None:
            return entries
        changed = generation.changed
        try:
            await asyncio.wait_for(changed.wait(), block_s)
        except TimeoutError:
            return []
        return await self.read(key, after=after)

    async def watch(self, key: GenKey) -> None:
        generation = self._live(key)
        if generation is not None:
            generation.info = replace(generation.info, watched_at=time.time())

    async def resumable(self, *, tenant_id: int, conversation_id: int, user_id: int) -> list[GenerationInfo]:
        found = []
        for key in list(self._generations):
            generation = self._live(key)
            if generation is None or key.tenant_id != tenant_id:
                continue
            info = generation.info
            if info.conversation_id == conversation_id and info.user_id == user_id:
                found.append(info)
        return sorted(found, key=lambda info: info.key.message_id)

    async def lapsed(self, *, limit: int) -> list[GenKey]:
        now = time.time()
        return [key for key, expires_at in self._leases.items() if expires_at <= now][:limit]

    async def take(self, key: GenKey) -> bool:
        return self._leases.pop(key, None) is not None


def _wake(generation: _Generation) -> None:
    generation.changed.set()
    generation.changed = asyncio.Event()
