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
class BudgetKeys:
    """Where a tenant's budget for one month lives."""

    counters: str  # used and reserved tokens
    expiries: str  # reservation id -> when it lapses
    amounts: str  # reservation id -> tokens reserved


@dataclass(frozen=True, slots=True)
class BudgetClaim:
    """Tokens to hold against a monthly budget until the answer ends (lapsing after ``ttl_s``)."""

    keys: BudgetKeys
    tokens: int
    budget: int
    ttl_s: float


@dataclass(frozen=True, slots=True)
class Admission:
    """The decision on one message. Refused: nothing was consumed, ``refused_by`` names what
    refused (a rate limit's name, ``"streams"`` or ``"budget"``), ``retry_after`` is in seconds.
    ``needs_seed``: the store does not know this month's usage (a new month, or counters lost):
    seed it from the ledger and ask again. ``used``/``reserved``: the budget's tokens."""

    admitted: bool
    refused_by: str = ""  # a rate limit's name, "streams", "budget" (tenant) or "user_budget"
    retry_after: float = 0.0
    needs_seed: bool = False
    used: int = 0
    reserved: int = 0
    # Which budget needs its seed (the tenant's or the member's).
    seed: BudgetKeys | None = None
    # The member's budget, when the message carried its claim (its reservation included).
    user_used: int = 0
    user_reserved: int = 0


def claims_of(claim: BudgetClaim | None, user_claim: BudgetClaim | None) -> list[BudgetClaim]:
    """The budgets a message is held against: the tenant's, then the member's."""
    return [c for c in (claim, user_claim) if c is not None]


def admitted(claim: BudgetClaim | None, user_claim: BudgetClaim | None, totals: list[int]) -> Admission:
    """An admission, from the (used, reserved) of each claim in ``claims_of`` order."""
    pairs = iter(zip(totals[0::2], totals[1::2], strict=True))
    tenant = next(pairs) if claim is not None else (0, 0)
    user = next(pairs) if user_claim is not None else (0, 0)
    return Admission(
        admitted=True, used=tenant[0], reserved=tenant[1], user_used=user[0], user_reserved=user[1]
    )


class LimitStoreUnavailable(Exception):
    """The store cannot be reached: callers refuse the message (fail closed, never unlimited)."""


class LimitStore(Protocol):
    async def admit(
        self,
        *,
        limits: list[RateLimit],
        lease: StreamLease,
        claim: BudgetClaim | None,
        user_claim: BudgetClaim | None = None,
    ) -> Admission:
        """Check every rate limit, take a stream slot and hold the claims' tokens (the tenant's
        budget, the member's), atomically: all of it or nothing. The reservations are named by
        the lease's id."""
        ...

    async def renew(self, *, lease: StreamLease) -> None:
        """Push the lease's expiry ``ttl_s`` into the future (while its stream runs)."""
        ...

    async def finish(
        self,
        *,
        lease: StreamLease,
        budget: BudgetKeys | None,
        tokens: int,
        user_budget: BudgetKeys | None = None,
    ) -> None:
        """Free the stream slot and replace the reservations by the tokens really used."""
        ...

    async def seed(self, *, keys: BudgetKeys, used: int, ttl_s: float) -> None:
        """Set this month's used tokens (from the ledger), unless another instance already did."""
        ...

    async def hold(self, *, leases: list[StreamLease]) -> int | None:
        """Take a slot in every lease's set (each with its own ``max_streams``), atomically: all
        or none. None when taken; else the index of the first set that is full."""
        ...

    async def release(self, *, leases: list[StreamLease]) -> None:
        """Give back the slots ``hold`` took (``renew`` keeps each alive meanwhile)."""
        ...
