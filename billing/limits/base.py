"""The limit store's interface: rate windows and stream leases, token budget reservations.

Two implementations keep the same contract (``tests/test_limit_store_contract.py`` runs against
both): ``RedisLimitStore`` for production, shared by every instance, and ``MemoryLimitStore`` for
the embedded default, one process.
"""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``limit`` messages per ``period_s`` (a GCRA: bursts up to ``limit``, then one per
    ``period_s / limit``)."""

    name: str  # what the client is told: "user_per_minute", "tenant_per_hour", ...
    key: str
    limit: int
    period_s: int


@dataclass(frozen=True, slots=True)
class StreamLease:
    key: str  # the tenant's set of leases
    lease_id: str
    max_streams: int
    ttl_s: float


@dataclass(frozen=True, slots=True)
class Admission:
    """The decision on one message. Refused: nothing was consumed, ``refused_by`` names the
    limit (a rate limit's name, or ``"streams"``), ``retry_after`` is in seconds."""

    admitted: bool
    refused_by: str = ""
    retry_after: float = 0.0


@dataclass(frozen=True, slots=True)
class BudgetKeys:
    """Where a tenant's budget for one month lives."""

    counters: str  # used and reserved tokens
    expiries: str  # reservation id -> when it lapses
    amounts: str  # reservation id -> tokens reserved


@dataclass(frozen=True, slots=True)
class Reservation:
    """``granted``: the tokens are held. ``needs_seed``: the store does not know this month's
    usage (new month, or counters lost): seed it from the ledger and ask again."""

    granted: bool
    used: int = 0
    reserved: int = 0
    needs_seed: bool = False


class LimitStoreUnavailable(Exception):
    """The store cannot be reached: callers refuse the message (fail closed, never unlimited)."""


class LimitStore(Protocol):
    async def admit(self, *, limits: list[RateLimit], lease: StreamLease) -> Admission:
        """Check every rate limit and take a stream slot, atomically: all or nothing."""
        ...

    async def renew(self, *, lease: StreamLease) -> None:
        """Push the lease's expiry ``ttl_s`` into the future (while its stream runs)."""
        ...

    async def release(self, *, lease: StreamLease) -> None: ...

    async def reserve(
        self, *, keys: BudgetKeys, reservation_id: str, tokens: int, budget: int, ttl_s: float
    ) -> Reservation:
        """Hold ``tokens`` if used + reserved + tokens stays within ``budget``."""
        ...

    async def settle(self, *, keys: BudgetKeys, reservation_id: str, tokens: int) -> None:
        """Replace the reservation by the tokens really used."""
        ...

    async def seed(self, *, keys: BudgetKeys, used: int, ttl_s: float) -> None:
        """Set this month's used tokens (from the ledger), unless another instance already did."""
        ...
