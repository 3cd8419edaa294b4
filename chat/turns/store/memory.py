"""The generation store in this process (the embedded default)."""

import asyncio
import time
from dataclasses import dataclass, field, replace

from chat.frames import Frame
from chat.turns.store.base import START, Claim, Entry, GenerationInfo, GenKey, claim_value, parse_claim


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
