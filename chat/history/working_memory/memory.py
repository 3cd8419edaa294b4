"""Working memory in this process (the embedded default), least recently used first out."""

import time
from collections import OrderedDict

from django.conf import settings

from chat.history.working_memory.base import Remembered, memory_key


class MemoryWorkingMemory:
    """In this process, for the embedded default; the least recently used lists go first."""

    def __init__(self, max_conversations: int = 10_000) -> None:
        self._lists: OrderedDict[str, tuple[float, list[Remembered]]] = OrderedDict()
        self._max = max_conversations

    async def recent(self, *, tenant_id: int, conversation_id: int) -> list[Remembered] | None:
        key = memory_key(tenant_id, conversation_id)
        entry = self._lists.get(key)
        if entry is None or entry[0] < time.monotonic():
            self._lists.pop(key, None)
            return None
        self._lists[key] = (time.monotonic() + settings.CHAT_MEMORY_TTL_S, entry[1])
        self._lists.move_to_end(key)
        return list(entry[1])

    async def refill(self, *, tenant_id: int, conversation_id: int, items: list[Remembered]) -> None:
        key = memory_key(tenant_id, conversation_id)
        if not items:
            self._lists.pop(key, None)
            return
        self._put(key, items)

    async def append(
        self, *, tenant_id: int, conversation_id: int, items: list[Remembered], first: bool = False
    ) -> None:
        key = memory_key(tenant_id, conversation_id)
        entry = self._lists.get(key)
        if entry is not None or first:
            self._put(key, (entry[1] if entry is not None else []) + items)

    def forget(self, prefix: str) -> int:
        """Drop the lists whose key starts with ``prefix`` (an erasure: ``privacy``); Redis's
        lists are reached by their keys there."""
        keys = [key for key in self._lists if key.startswith(prefix)]
        for key in keys:
            del self._lists[key]
        return len(keys)

    def _put(self, key: str, items: list[Remembered]) -> None:
        self._lists[key] = (
            time.monotonic() + settings.CHAT_MEMORY_TTL_S,
            items[-settings.CHAT_HISTORY_MESSAGES :],
        )
        self._lists.move_to_end(key)
        while len(self._lists) > self._max:
            self._lists.popitem(last=False)
