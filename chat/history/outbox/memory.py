"""The outbox in this process (the embedded default)."""

from collections import defaultdict
from collections.abc import Sequence

from chat.history.outbox.base import Entry, Turn


class MemoryOutbox:
    """The embedded default's: one process, so a lock is a set and entries a list per tenant."""

    def __init__(self) -> None:
        self._entries: dict[int, list[Entry]] = defaultdict(list)
        self._locked: set[int] = set()
        self._next_id = 0
        self.dead: list[Entry] = []

    async def put(self, turns: Sequence[Turn]) -> None:
        for turn, outcome in turns:
            self._next_id += 1
            self._entries[turn.tenant_id].append((str(self._next_id), (turn, outcome)))

    async def tenants(self) -> list[int]:
        return [tenant_id for tenant_id, entries in self._entries.items() if entries]

    async def lock(self, tenant_id: int) -> str | None:
        if tenant_id in self._locked:
            return None
        self._locked.add(tenant_id)
        return str(tenant_id)

    async def unlock(self, tenant_id: int, token: str) -> None:
        self._locked.discard(tenant_id)

    async def read(self, tenant_id: int, count: int) -> list[Entry]:
        return self._entries[tenant_id][:count]

    async def remove(self, tenant_id: int, entry_ids: Sequence[str], *, dead: Sequence[Entry] = ()) -> None:
        gone = set(entry_ids) | {entry_id for entry_id, _ in dead}
        self._entries[tenant_id] = [e for e in self._entries[tenant_id] if e[0] not in gone]
        self.dead.extend(dead)

    async def pending(self) -> int:
        return sum(len(entries) for entries in self._entries.values())

    async def holds(self, tenant_id: int, message_id: int) -> bool:
        return any(turn.answer_message_id == message_id for _, (turn, _) in self._entries[tenant_id])
