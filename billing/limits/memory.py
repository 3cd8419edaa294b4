"""The limit store of the embedded default: the same decisions as ``RedisLimitStore``, kept in
this process (which is the only one when there is no Redis). Each method runs without awaiting,
so on one event loop every decision is atomic."""

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from billing.limits.base import (
    Admission,
    BudgetClaim,
    BudgetKeys,
    RateLimit,
    StreamLease,
)


@dataclass
class _Budget:
    used: int
    expires_at: float
    reserved: dict[str, tuple[int, float]] = field(default_factory=dict)  # id -> (amount, lapses at)


class MemoryLimitStore:
    def __init__(self) -> None:
        self._tats: dict[str, float] = {}  # key -> theoretical arrival time
        self._leases: dict[str, dict[str, float]] = {}  # key -> lease id -> expires at
        self._budgets: dict[str, _Budget] = {}

    async def admit(
        self,
        *,
        limits: list[RateLimit],
        lease: StreamLease,
        claims: Sequence[BudgetClaim] = (),
    ) -> Admission:
        now = time.time()
        new_tats = self._windows(limits, now)
        if isinstance(new_tats, Admission):
            return new_tats
        leases = self._live_leases(lease.key, now)
        if len(leases) >= lease.max_streams:
            return Admission(admitted=False, refused_by="streams", retry_after=min(leases.values()) - now)
        budgets: list[_Budget] = []
        totals: list[tuple[int, int]] = []
        for claim in claims:
            budget = self._budget(claim.keys, now)
            if budget is None:
                return Admission(admitted=False, needs_seed=True, seed=claim.keys)
            used, reserved = budget.used, sum(amount for amount, _ in budget.reserved.values())
            if used + reserved + claim.amount > claim.budget:
                return Admission(admitted=False, refused_by=claim.name, used=used, reserved=reserved)
            budgets.append(budget)
            totals.append((used, reserved + claim.amount))
        for claim, budget in zip(claims, budgets, strict=True):
            budget.reserved[lease.lease_id] = (claim.amount, now + claim.ttl_s)
        for limit, new_tat in zip(limits, new_tats, strict=True):
            self._tats[limit.key] = new_tat
        leases[lease.lease_id] = now + lease.ttl_s
        return Admission(admitted=True, held=tuple(totals))

    def _live_leases(self, key: str, now: float) -> dict[str, float]:
        leases = self._leases.setdefault(key, {})
        for lease_id in [i for i, expires_at in leases.items() if expires_at <= now]:
            del leases[lease_id]
        return leases

    def _budget(self, keys: BudgetKeys, now: float) -> _Budget | None:
        budget = self._budgets.get(keys.counters)
        if budget is None or budget.expires_at <= now:
            self._budgets.pop(keys.counters, None)
            return None
        for reservation_id in [i for i, (_, lapses) in budget.reserved.items() if lapses <= now]:
            del budget.reserved[reservation_id]
        return budget

    def _windows(self, limits: list[RateLimit], now: float) -> list[float] | Admission:
        """Each window's theoretical arrival time with one more message (GCRA), or the refusal
        of the first that has no room."""
        new_tats: list[float] = []
        for limit in limits:
            interval = limit.period_s / limit.limit
            new_tat = max(self._tats.get(limit.key, now), now) + interval
            if new_tat - now > interval * limit.limit + 1e-9:
                retry = new_tat - now - interval * limit.limit
                return Admission(admitted=False, refused_by=limit.name, retry_after=retry)
            new_tats.append(new_tat)
        return new_tats

    async def take(self, *, limit: RateLimit) -> float | None:
        found = self._windows([limit], time.time())
        if isinstance(found, Admission):
            return found.retry_after
        self._tats[limit.key] = found[0]
        return None

    async def give_back(self, *, limit: RateLimit) -> None:
        now = time.time()
        tat = self._tats.get(limit.key, now) - limit.period_s / limit.limit
        if tat > now:
            self._tats[limit.key] = tat
        else:
            self._tats.pop(limit.key, None)

    async def renew(self, *, lease: StreamLease) -> None:
        leases = self._leases.get(lease.key, {})
        if lease.lease_id in leases:
            leases[lease.lease_id] = time.time() + lease.ttl_s

    async def finish(
        self,
        *,
        lease: StreamLease,
        spent: Sequence[tuple[BudgetKeys, int]] = (),
    ) -> None:
        self._leases.get(lease.key, {}).pop(lease.lease_id, None)
        for keys, amount in spent:
            state = self._budget(keys, time.time())
            if state is not None:
                state.reserved.pop(lease.lease_id, None)
                state.used += amount

    async def hold(self, *, leases: list[StreamLease]) -> int | None:
        now = time.time()
        for index, lease in enumerate(leases):
            if len(self._live_leases(lease.key, now)) >= lease.max_streams:
                return index
        for lease in leases:
            self._leases[lease.key][lease.lease_id] = now + lease.ttl_s
        return None

    async def release(self, *, leases: list[StreamLease]) -> None:
        for lease in leases:
            self._leases.get(lease.key, {}).pop(lease.lease_id, None)

    async def seed(self, *, keys: BudgetKeys, used: int, ttl_s: float) -> None:
        if self._budget(keys, time.time()) is None:
            self._budgets[keys.counters] = _Budget(used=used, expires_at=time.time() + ttl_s)
