"""The exact response cache in this process (the embedded default), least recently used first out."""

import time
from collections import OrderedDict

from chat.gateway.response_cache.base import CachedAnswer, decode_answer, encode_answer


class MemoryResponseCache:
    """In-process, for the embedded default: least recently used entries go first."""

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._max_entries = max_entries

    async def get(self, key: str) -> CachedAnswer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, raw = entry
        if expires_at <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return decode_answer(raw)

    def forget(self, prefix: str) -> int:
        """Drop the answers whose key starts with ``prefix`` (an erasure: ``privacy``)."""
        keys = [key for key in self._entries if key.startswith(prefix)]
        for key in keys:
            del self._entries[key]
        return len(keys)

    async def put(self, key: str, answer: CachedAnswer, *, ttl_s: int) -> None:
        self._entries[key] = (time.monotonic() + ttl_s, encode_answer(answer))
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
