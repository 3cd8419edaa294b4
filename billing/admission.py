"""Steps 5 and 6 of a message's path (DESIGN.md): the rate limits and a stream slot, decided in
one atomic call; then tokens reserved against the tenant's monthly budget before the model is
called, settled to the real usage after.

Everything fails closed: if the limit store cannot be reached the message is refused with
``SERVICE_UNAVAILABLE`` (a Redis outage must never mean unlimited spend), and service resumes by
itself when the store is back. The ledger in PostgreSQL is the source of truth for the budget:
when the store has no counters for the month (a new month, a Redis restart or flush) they are
rebuilt from the ledger, never started from zero.
"""

import asyncio
import calendar
import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.utils import timezone

from billing.limits import get_limit_store
from billing.limits.base import (
    Admission,
    BudgetClaim,
    BudgetKeys,
    LimitStore,
    LimitStoreUnavailable,
    RateLimit,
    StreamLease,
)
from billing.selectors import tokens_used
from chatplatform.db import in_db_thread
from tenants.selectors import TenantLimits

log = structlog.stdlib.get_logger(__name__)

_LIMIT_LABELS = {
    "user_per_minute": "messages per minute for one user",
    "tenant_per_minute": "messages per minute for this workspace",
    "tenant_per_hour": "messages per hour for this workspace",
    "global_per_minute": "messages per minute across the platform",
}


class Refusal(Exception):
    """A message the limits refuse; ``code`` is the protocol's error code."""

    def __init__(
        self, code: str, message: str, *, retry_after: float | None = None, limit: str | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after, self.limit = code, message, retry_after, limit


@dataclass
class Ticket:
    """What an admitted message holds until its answer ends: a stream slot and, when the tenant
    has a budget, a reservation (named by the slot's id)."""

    store: LimitStore
    lease: StreamLease
    budget: BudgetKeys | None
    renewer: "asyncio.Task[None]"
    # Set when the answer ends: the renewer stops even if a cancel is lost inside a Redis call.
    released: asyncio.Event
    # Tokens of the monthly budget not used nor reserved, this message's reservation included.
    budget_left: int | None = None
    # The member's own budget, when they have one, and what of it is used or held (this message
    # included).
    user_budget: BudgetKeys | None = None
    user_used: int | None = None


def rate_limits(*, tenant_id: int, user_id: int, limits: TenantLimits) -> list[RateLimit]:
    windows = [
        RateLimit(
            "user_per_minute", f"t:{tenant_id}:rate:user:{user_id}:60", limits.user_messages_per_minute, 60
        ),
        RateLimit("tenant_per_minute", f"t:{tenant_id}:rate:tenant:60", limits.messages_per_minute, 60),
    ]
    if limits.messages_per_hour is not None:
        windows.append(
            RateLimit("tenant_per_hour", f"t:{tenant_id}:rate:tenant:3600", limits.messages_per_hour, 3600)
        )
    if settings.GLOBAL_MESSAGES_PER_MINUTE:
        windows.append(
            RateLimit("global_per_minute", "global:rate:60", settings.GLOBAL_MESSAGES_PER_MINUTE, 60)
        )
    return windows


def budget_keys(*, tenant_id: int, month: str, user_id: int | None = None) -> BudgetKeys:
    """The tenant's budget for the month, or (``user_id``) one member's budget in it."""
    base = f"t:{tenant_id}:budget:{month}" + (f":user:{user_id}" if user_id is not None else "")
    return BudgetKeys(counters=base, expiries=f"{base}:expiries", amounts=f"{base}:amounts")


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(now.year, now.month)[1]
    return start, start + timedelta(days=days)


async def admit(
    *,
    tenant_id: int,
    user_id: int,
    limits: TenantLimits,
    reserve_tokens: int,
    user_budget: int | None = None,
) -> Ticket | None:
    """Admit one message (one atomic call to the store) or raise ``Refusal``. A refused message
    consumes nothing. ``user_budget``: the member's own monthly token budget, held in the same
    call as the tenant's."""
    if not settings.LIMITS_ENABLED:
        return None
    store = get_limit_store()
    lease = StreamLease(
        key=f"t:{tenant_id}:streams",
        lease_id=uuid.uuid4().hex,
        max_streams=limits.max_concurrent_streams,
        ttl_s=settings.STREAM_LEASE_TTL_S,
    )
    windows = rate_limits(tenant_id=tenant_id, user_id=user_id, limits=limits)
    now = timezone.now().astimezone(UTC)
    month_start, next_month = month_bounds(now)
    month = f"{month_start:%Y-%m}"
    claim = user_claim = None
    if limits.monthly_token_budget is not None:
        claim = BudgetClaim(
            keys=budget_keys(tenant_id=tenant_id, month=month),
            tokens=reserve_tokens,
            budget=limits.monthly_token_budget,
            ttl_s=settings.BUDGET_RESERVATION_TTL_S,
        )
    if user_budget is not None:
        user_claim = BudgetClaim(
            keys=budget_keys(tenant_id=tenant_id, month=month, user_id=user_id),
            tokens=reserve_tokens,
            budget=user_budget,
            ttl_s=settings.BUDGET_RESERVATION_TTL_S,
        )
    try:
        admission = await store.admit(limits=windows, lease=lease, claim=claim, user_claim=user_claim)
        for _ in range(2):  # at most each budget once
            if not admission.needs_seed or admission.seed is None:
                break
            whose = user_id if user_claim is not None and admission.seed == user_claim.keys else None
            used = await in_db_thread(tokens_used)(
                tenant_id=tenant_id, since=month_start, until=next_month, user_id=whose
            )
            keep_s = (next_month - now + timedelta(days=7)).total_seconds()
            await store.seed(keys=admission.seed, used=used, ttl_s=keep_s)
            admission = await store.admit(limits=windows, lease=lease, claim=claim, user_claim=user_claim)
        if admission.needs_seed:  # the seed vanished at once (a flush in between): try later
            raise LimitStoreUnavailable("the budget counters could not be rebuilt")
    except LimitStoreUnavailable as exc:
        log.error("limits.unavailable", error=str(exc))
        raise Refusal(
            "SERVICE_UNAVAILABLE", "limits cannot be checked right now; try again shortly", retry_after=5
        ) from exc
    if not admission.admitted:
        if admission.refused_by == "budget":
            raise _budget_refusal(admission, limits, month_start, next_month, now)
        if admission.refused_by == "user_budget":
            assert user_budget is not None
            raise _user_budget_refusal(admission, user_budget, month_start, next_month, now)
        raise _rate_refusal(admission.refused_by, admission.retry_after, limits)
    released = asyncio.Event()
    renewer = asyncio.ensure_future(_keep_renewed(store, lease, released))
    return Ticket(
        store=store,
        lease=lease,
        budget=claim.keys if claim is not None else None,
        renewer=renewer,
        released=released,
        budget_left=max(0, claim.budget - admission.used - admission.reserved) if claim is not None else None,
        user_budget=user_claim.keys if user_claim is not None else None,
        user_used=admission.user_used + admission.user_reserved if user_claim is not None else None,
    )


def _budget_refusal(
    admission: Admission, limits: TenantLimits, month_start: datetime, next_month: datetime, now: datetime
) -> Refusal:
    held = f" ({admission.reserved:,} more are held by answers in progress)" if admission.reserved else ""
    return Refusal(
        "BUDGET_EXCEEDED",
        f"This workspace has used {admission.used:,} of its {limits.monthly_token_budget:,} tokens "
        f"for {month_start:%B %Y}{held}. The budget resets on {next_month:%-d %B %Y} (UTC); "
        f"a higher tier than {limits.tier_name} lifts it.",
        retry_after=round((next_month - now).total_seconds()),
    )


def _user_budget_refusal(
    admission: Admission, budget: int, month_start: datetime, next_month: datetime, now: datetime
) -> Refusal:
    return Refusal(
        "BUDGET_EXCEEDED",
        f"You have used {admission.used:,} of your {budget:,} tokens for {month_start:%B %Y} in this "
        f"workspace. Your allowance resets on {next_month:%-d %B %Y} (UTC); its admins can raise it.",
        retry_after=round((next_month - now).total_seconds()),
        limit="user",
    )


def _rate_refusal(refused_by: str, retry_after: float, limits: TenantLimits) -> Refusal:
    retry_after = round(max(retry_after, 0.001), 3)
    if refused_by == "streams":
        return Refusal(
            "TOO_MANY_STREAMS",
            f"This workspace already has {limits.max_concurrent_streams} answer(s) streaming, its limit; "
            "wait for one to finish.",
            retry_after=retry_after,
        )
    return Refusal(
        "RATE_LIMITED",
        f"Too many messages: the limit on {_LIMIT_LABELS[refused_by]} was reached; "
        f"try again in {retry_after:.1f} s.",
        retry_after=retry_after,
        limit=refused_by,
    )


async def _keep_renewed(store: LimitStore, lease: StreamLease, released: asyncio.Event) -> None:
    """Renew the stream slot while the answer streams; a dead process stops renewing, and its
    slot lapses within the lease's TTL. The loop ends on ``released`` as well as on a cancel: a
    cancel that lands inside a Redis call can surface as a connection error (and be swallowed
    as an outage), which kept some renewers going for ever."""
    while not released.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(released.wait(), lease.ttl_s / 3)
        if released.is_set():
            return
        try:
            await store.renew(lease=lease)
        except LimitStoreUnavailable as exc:
            log.warning("limits.renew_failed", error=str(exc))


# The longest the end of an answer waits for its renewer to stop (it is cancelled and told to
# stop, so this is a bound, not a wait).
_RENEWER_STOP_S = 1.0


async def finish(ticket: Ticket | None, *, tokens_used: int) -> None:
    """Free the stream slot and settle the reservation to the real usage (one call). Every
    await here is bounded: the renewer's stop, and the store call (the client's timeouts)."""
    if ticket is None:
        return
    ticket.released.set()
    ticket.renewer.cancel()
    await asyncio.wait({ticket.renewer}, timeout=_RENEWER_STOP_S)
    if not ticket.renewer.done():
        log.error("limits.renewer_stuck", lease_id=ticket.lease.lease_id)
    try:
        await ticket.store.finish(
            lease=ticket.lease, budget=ticket.budget, tokens=tokens_used, user_budget=ticket.user_budget
        )
    except LimitStoreUnavailable as exc:
        # The ledger has the usage; the slot and the reservation lapse on their own.
        log.warning("limits.finish_failed", error=str(exc))


_CHARGE = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'used', ARGV[1]) end
"""


def charge_background(*, tenant_id: int, tokens: int) -> None:
    """Count tokens spent outside a chat message (summaries, titles) against this month's budget
    counters in Redis, where they exist; absent counters are rebuilt from the ledger, which holds
    these tokens already. Sync: background tasks call it. Without Redis (the embedded default)
    the in-process counters see them only after a restart."""
    if not settings.REDIS_URL or tokens <= 0:
        return
    import redis

    now = timezone.now().astimezone(UTC)
    keys = budget_keys(tenant_id=tenant_id, month=f"{month_bounds(now)[0]:%Y-%m}")
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=settings.LIMITS_REDIS_TIMEOUT)
    try:
        client.eval(_CHARGE, 1, keys.counters, tokens)
    except redis.RedisError as exc:
        log.warning("limits.charge_failed", error=str(exc))
    finally:
        client.close()


def ticket_state(ticket: Ticket | None) -> dict[str, Any] | None:
    """What settling ``ticket`` needs, as JSON: kept with a generation so that another process
    can settle it if this one dies (``chat.turns.reaper``)."""
    if ticket is None:
        return None
    budget, user_budget = ticket.budget, ticket.user_budget
    return {
        "lease_key": ticket.lease.key,
        "lease_id": ticket.lease.lease_id,
        "budget": None if budget is None else [budget.counters, budget.expiries, budget.amounts],
        "user_budget": None
        if user_budget is None
        else [user_budget.counters, user_budget.expiries, user_budget.amounts],
    }


async def finish_lost(state: dict[str, Any] | None, *, tokens_used: int) -> None:
    """``finish`` for a ticket whose process died: free its slot, settle its reservation."""
    if state is None or not settings.LIMITS_ENABLED:
        return
    lease = StreamLease(key=state["lease_key"], lease_id=state["lease_id"], max_streams=0, ttl_s=0)
    budget = BudgetKeys(*state["budget"]) if state["budget"] is not None else None
    user_budget = BudgetKeys(*state["user_budget"]) if state.get("user_budget") else None
    try:
        await get_limit_store().finish(
            lease=lease, budget=budget, tokens=tokens_used, user_budget=user_budget
        )
    except LimitStoreUnavailable as exc:
        log.warning("limits.finish_failed", error=str(exc))
