"""The generation store's interface: claims, frames and records of the answers being generated."""

from dataclasses import dataclass
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
