"""The limit store's interface: rate windows and stream leases, budget reservations (tokens of a
month, micro-USD of a conversation).

Two implementations keep the same contract (``tests/contracts/test_limit_store_contract.py`` runs against
both): ``RedisLimitStore`` for production, shared by every instance, and ``MemoryLimitStore`` for
the embedded default, one process.
"""

from collections.abc import Sequence
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
class BudgetKeys:
    """Where one budget lives: a tenant's or a member's month, or a conversation's cost cap."""

    counters: str  # the amounts used and reserved
    expiries: str  # reservation id -> when it lapses
    amounts: str  # reservation id -> amount reserved


@dataclass(frozen=True, slots=True)
class BudgetClaim:
    """An amount to hold against a budget until the answer ends (lapsing after ``ttl_s``):
    tokens of a monthly budget, or micro-USD of a conversation's cost cap. ``name`` is what a
    refusal by this budget names: ``"budget"`` (the tenant's month), ``"user_budget"`` (the
    member's), ``"conversation_cost"``."""

    name: str
    keys: BudgetKeys
    amount: int
    budget: int
    ttl_s: float


@dataclass(frozen=True, slots=True)
class Admission:
    """The decision on one message. Refused: nothing was consumed, ``refused_by`` names what
    refused (a rate limit's name, ``"streams"`` or a claim's name), ``retry_after`` is in
    seconds, ``used``/``reserved`` are the refusing budget's. ``needs_seed``: the store does not
    know the budget ``seed`` (a new month, or counters lost): seed it from the ledger and ask
    again. Admitted: ``held`` is each claim's (used, reserved), in the order given, this
    message's reservation included."""

    admitted: bool
    refused_by: str = ""
    retry_after: float = 0.0
    needs_seed: bool = False
    seed: BudgetKeys | None = None
    used: int = 0
    reserved: int = 0
    held: tuple[tuple[int, int], ...] = ()


class LimitStoreUnavailable(Exception):
    """The store cannot be reached: callers refuse the message (fail closed, never unlimited)."""


class LimitStore(Protocol):
    async def admit(
        self,
        *,
        limits: list[RateLimit],
        lease: StreamLease,
        claims: Sequence[BudgetClaim] = (),
    ) -> Admission:
        """Check every rate limit, take a stream slot and hold every claim's amount, atomically:
        all of it or nothing. The reservations are named by the lease's id."""
        ...

    async def take(self, *, limit: RateLimit) -> float | None:
        """One message from ``limit``'s window alone (the platform's, checked apart from any
        tenant's keys: another Redis Cluster slot). None when taken; else the seconds to wait."""
        ...

    async def give_back(self, *, limit: RateLimit) -> None:
        """Return the message ``take`` took (what came after it refused the message)."""
        ...

    async def renew(self, *, lease: StreamLease) -> None:
        """Push the lease's expiry ``ttl_s`` into the future (while its stream runs)."""
        ...

    async def finish(
        self,
        *,
        lease: StreamLease,
        spent: Sequence[tuple[BudgetKeys, int]] = (),
    ) -> None:
        """Free the stream slot and replace the lease's reservation in each budget by the
        amount really spent."""
        ...

    async def seed(self, *, keys: BudgetKeys, used: int, ttl_s: float) -> None:
        """Set the budget's used amount (from the ledger), unless another instance already did."""
        ...

    async def hold(self, *, leases: list[StreamLease]) -> int | None:
        """Take a slot in every lease's set (each with its own ``max_streams``), atomically: all
        or none. None when taken; else the index of the first set that is full."""
        ...

    async def release(self, *, leases: list[StreamLease]) -> None:
        """Give back the slots ``hold`` took (``renew`` keeps each alive meanwhile)."""
        ...
