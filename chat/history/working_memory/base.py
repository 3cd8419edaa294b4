"""Working memory's interface, its key and its items' encoding."""

from dataclasses import dataclass
from typing import Protocol

import orjson

from infra import safe_json
from infra.keys import tenant_prefix


@dataclass(frozen=True, slots=True)
class Remembered:
    id: int
    role: str
    content: str


def memory_key(tenant_id: int, conversation_id: int) -> str:
    return f"{tenant_prefix(tenant_id)}:conv:{conversation_id}:recent"


class WorkingMemory(Protocol):
    async def recent(self, *, tenant_id: int, conversation_id: int) -> list[Remembered] | None: ...

    async def refill(self, *, tenant_id: int, conversation_id: int, items: list[Remembered]) -> None: ...

    async def append(
        self, *, tenant_id: int, conversation_id: int, items: list[Remembered], first: bool = False
    ) -> None:
        """Add ``items`` to a list that exists (else the next read refills it whole from
        PostgreSQL). ``first``: they are the conversation's first messages, so they are its
        whole list: it is made when absent (a new conversation needs no refill)."""
        ...


def encode_item(item: Remembered) -> str:
    return safe_json.dumps([item.id, item.role, item.content])


def decode_item(raw: bytes | str) -> Remembered:
    # orjson: a sixth of json's CPU, for the items of every message's context.
    item_id, role, content = orjson.loads(raw)
    return Remembered(id=item_id, role=role, content=content)
