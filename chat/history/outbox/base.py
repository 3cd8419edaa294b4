"""The outbox's interface and the encoding of the turns it keeps."""

import json
from collections.abc import Sequence
from typing import Protocol

from chat.turn import Outcome, PreparedTurn, outcome_dump, outcome_load, turn_dump, turn_load

Turn = tuple[PreparedTurn, Outcome]


Entry = tuple[str, Turn]  # the entry's id in the outbox, the turn


def encode(turn: PreparedTurn, outcome: Outcome) -> str:
    return json.dumps({"turn": turn_dump(turn), "outcome": outcome_dump(outcome)}, ensure_ascii=False)


def decode(raw: str | bytes) -> Turn:
    data = json.loads(raw)
    return turn_load(data["turn"]), outcome_load(data["outcome"])


class Outbox(Protocol):
    async def put(self, turns: Sequence[Turn]) -> None: ...

    async def tenants(self) -> list[int]: ...

    async def lock(self, tenant_id: int) -> str | None:
        """A lock on the tenant's outbox for ``OUTBOX_LOCK_S``, or None if another holds it."""

    async def unlock(self, tenant_id: int, token: str) -> None: ...

    async def read(self, tenant_id: int, count: int) -> list[Entry]: ...

    async def remove(self, tenant_id: int, entry_ids: Sequence[str], *, dead: Sequence[Entry] = ()) -> None:
        """Drop written entries, and move ``dead`` ones aside; forget the tenant once it has none."""

    async def pending(self) -> int: ...

    async def holds(self, tenant_id: int, message_id: int) -> bool:
        """Whether the turn answered by ``message_id`` waits here (read in full: a rare question,
        asked only of a generation whose process died)."""
