"""Step 4 of a message's path (DESIGN.md): the rate limits, a stream slot and the
reservations, decided in one atomic call before the model is called: tokens against the
tenant's monthly budget and the member's, US dollars against the conversation's cost cap; each
settled to the real usage after. A reservation holds the most the answer may spend, so no
budget and no cap is ever passed, however many answers run at once.

Everything fails closed: if the limit store cannot be reached the message is refused with
``SERVICE_UNAVAILABLE`` (a Redis outage must never mean unlimited spend), and service resumes by
itself when the store is back. The ledger in PostgreSQL is the source of truth for every budget:
when the store has no counters for one (a new month, a Redis restart or flush) they are rebuilt
from the ledger, never started from zero.
"""

import asyncio
import calendar
import contextlib
import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
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
from billing.selectors import conversation_cost, tokens_used
from infra.db import in_db_thread
from infra.keys import tenant_prefix
from tenants.selectors import TenantLimits

log = structlog.stdlib.get_logger(__name__)

_LIMIT_LABELS = {
    "user_per_minute": "messages per minute for one user",
    "tenant_per_minute": "messages per minute for this workspace",
    "tenant_per_hour": "messages per hour for this workspace",
    "global_per_minute": "messages per minute across the platform",
    "visitor_per_minute": "messages per minute from you",
    "address_per_minute": "messages per minute from your network address",
    "site_per_day": "messages per day on this website",
    "visitor_conversations_per_hour": "new conversations per hour from you",
    "address_conversations_per_hour": "new conversations per hour from your network address",
}
# The windows a widget visitor is told about as they are: their own, their address's, the site's.
_VISITOR_OWN = frozenset(
    name for name in _LIMIT_LABELS if name.startswith(("user_", "visitor", "address", "site"))
)
# What a widget visitor is told when the tenant's own limits refuse: not the workspace's figures.
_VISITOR_REFUSAL = "The assistant cannot take more questions right now; please try again later."


class Refusal(Exception):
    """A message the limits refuse; ``code`` is the protocol's error code."""

    def __init__(
        self, code: str, message: str, *, retry_after: float | None = None, limit: str | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after, self.limit = code, message, retry_after, limit


# The claims' names (``BudgetClaim.name``): what a refusal names, and the unit it counts in.
TENANT_BUDGET, USER_BUDGET, CONVERSATION_COST = "budget", "user_budget", "conversation_cost"
# A conversation's cost counters outlive its last answer by this long; rebuilt from the ledger after.
_CONVERSATION_KEEP_S = 30 * 86_400
_MICRO = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Spend:
    """What an answer may spend (its reservation) or spent (its settlement)."""

    tokens: int
    cost_usd: Decimal


NOTHING_SPENT = Spend(tokens=0, cost_usd=Decimal(0))


def micro_usd(usd: Decimal, *, rounding: str = ROUND_CEILING) -> int:
    """US dollars in the cost cap's unit (a reservation rounds up, a cap down)."""
    return int((usd * _MICRO).to_integral_value(rounding=rounding))


def _amount(name: str, spend: Spend) -> int:
    """``spend`` in the unit of the budget named ``name``: micro-USD for a cost cap, else tokens."""
    return micro_usd(spend.cost_usd) if name == CONVERSATION_COST else spend.tokens


@dataclass
class Ticket:
    """What an admitted message holds until its answer ends: a stream slot and the reservations
    of its claims (each named by the slot's id)."""

    store: LimitStore
    lease: StreamLease
    claims: tuple[BudgetClaim, ...]
    renewer: "asyncio.Task[None]"
    # Set when the answer ends: the renewer stops even if a cancel is lost inside a Redis call.
    released: asyncio.Event
    # Tokens of the monthly budget not used nor reserved, this message's reservation included.
    budget_left: int | None = None
    # What of the member's own budget is used or held (this message included), when they have one.
    user_used: int | None = None


@dataclass(frozen=True, slots=True)
class VisitorLimits:
    """A widget visitor's windows, set per site (``widget.Site``): on the visitor, on their
    network address (every visitor behind it, on any socket) and on the whole site; the tenant's
    own limits and budgets apply above them."""

    site_id: int
    address: str
    messages_per_minute: int
    conversations_per_hour: int
    address_messages_per_minute: int
    address_conversations_per_hour: int
    daily_message_cap: int


def visitor_rate_limits(
    *, tenant_id: int, user_id: int, visitor: VisitorLimits, new_conversation: bool
) -> list[RateLimit]:
    """A visitor's windows for one message; ``new_conversation``: it starts one (counted too)."""
    site = f"{tenant_prefix(tenant_id)}:site:{visitor.site_id}"
    address = f"{site}:addr:{visitor.address}"
    windows = [
        RateLimit("visitor_per_minute", f"{site}:visitor:{user_id}:60", visitor.messages_per_minute, 60),
        RateLimit("address_per_minute", f"{address}:60", visitor.address_messages_per_minute, 60),
        RateLimit("site_per_day", f"{site}:86400", visitor.daily_message_cap, 86_400),
    ]
    if new_conversation:
        windows += [
            RateLimit(
                "visitor_conversations_per_hour",
                f"{site}:visitor:{user_id}:conv:3600",
                visitor.conversations_per_hour,
                3600,
            ),
            RateLimit(
                "address_conversations_per_hour",
                f"{address}:conv:3600",
                visitor.address_conversations_per_hour,
                3600,
            ),
        ]
    return windows


def for_visitor(refusal: Refusal) -> Refusal:
    """``refusal`` as a widget visitor is told it: the workspace's budgets, tier and streams are
    the tenant's business, so those say only to try later (same code, same ``retry_after``)."""
    if refusal.limit in _VISITOR_OWN:
        return refusal
    return Refusal(refusal.code, _VISITOR_REFUSAL, retry_after=refusal.retry_after, limit=None)


def rate_limits(*, tenant_id: int, user_id: int, limits: TenantLimits) -> list[RateLimit]:
    windows = [
        RateLimit(
            "user_per_minute",
            f"{tenant_prefix(tenant_id)}:rate:user:{user_id}:60",
            limits.user_messages_per_minute,
            60,
        ),
        RateLimit(
            "tenant_per_minute", f"{tenant_prefix(tenant_id)}:rate:tenant:60", limits.messages_per_minute, 60
        ),
    ]
    if limits.messages_per_hour is not None:
        windows.append(
            RateLimit(
                "tenant_per_hour",
                f"{tenant_prefix(tenant_id)}:rate:tenant:3600",
                limits.messages_per_hour,
                3600,
            )
        )
    return windows


def platform_rate_limit() -> RateLimit | None:
    """The platform's own window (``GLOBAL_MESSAGES_PER_MINUTE``; 0: none). Its key is no
    tenant's, so it is taken in a step of its own before the tenant's admission, and given back
    when that refuses the message (a refused message consumes nothing)."""
    most = settings.GLOBAL_MESSAGES_PER_MINUTE
    return RateLimit("global_per_minute", "global:rate:60", most, 60) if most else None


def budget_keys(*, tenant_id: int, month: str, user_id: int | None = None) -> BudgetKeys:
    """The tenant's budget for the month, or (``user_id``) one member's budget in it."""
    base = f"{tenant_prefix(tenant_id)}:budget:{month}" + (f":user:{user_id}" if user_id is not None else "")
    return BudgetKeys(counters=base, expiries=f"{base}:expiries", amounts=f"{base}:amounts")


def conversation_cost_keys(*, tenant_id: int, conversation_id: int) -> BudgetKeys:
    """Where a conversation's cost cap is held, in micro-USD."""
    base = f"{tenant_prefix(tenant_id)}:conv:{conversation_id}:cost"
    return BudgetKeys(counters=base, expiries=f"{base}:expiries", amounts=f"{base}:amounts")


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(now.year, now.month)[1]
    return start, start + timedelta(days=days)


@dataclass(frozen=True, slots=True)
class _Whose:
    """Whose message is admitted, and when: what names and seeds its budgets."""

    tenant_id: int
    user_id: int
    conversation_id: int | None
    now: datetime

    @property
    def month(self) -> tuple[datetime, datetime]:
        return month_bounds(self.now)


def _claims(
    whose: _Whose, limits: TenantLimits, allowance: Spend, user_budget: int | None
) -> tuple[BudgetClaim, ...]:
    """The budgets a message is held against: the tenant's month, the member's, the
    conversation's cost cap (those that are set)."""
    month = f"{whose.month[0]:%Y-%m}"
    budgets: list[tuple[str, BudgetKeys, int]] = []  # name, keys, most
    if limits.monthly_token_budget is not None:
        keys = budget_keys(tenant_id=whose.tenant_id, month=month)
        budgets.append((TENANT_BUDGET, keys, limits.monthly_token_budget))
    if user_budget is not None:
        keys = budget_keys(tenant_id=whose.tenant_id, month=month, user_id=whose.user_id)
        budgets.append((USER_BUDGET, keys, user_budget))
    cap = limits.conversation_cost_cap_usd
    if cap is not None and whose.conversation_id is not None:
        keys = conversation_cost_keys(tenant_id=whose.tenant_id, conversation_id=whose.conversation_id)
        budgets.append((CONVERSATION_COST, keys, micro_usd(cap, rounding=ROUND_FLOOR)))
    return tuple(
        BudgetClaim(name, keys, _amount(name, allowance), most, settings.BUDGET_RESERVATION_TTL_S)
        for name, keys, most in budgets
    )


async def _seed(store: LimitStore, claim: BudgetClaim, whose: _Whose) -> None:
    """Rebuild the claim's budget counters from the ledger."""
    if claim.name == CONVERSATION_COST:
        assert whose.conversation_id is not None
        spent = await in_db_thread(conversation_cost)(
            tenant_id=whose.tenant_id, conversation_id=whose.conversation_id
        )
        await store.seed(keys=claim.keys, used=micro_usd(spent), ttl_s=_CONVERSATION_KEEP_S)
        return
    month_start, next_month = whose.month
    used = await in_db_thread(tokens_used)(
        tenant_id=whose.tenant_id,
        since=month_start,
        until=next_month,
        user_id=whose.user_id if claim.name == USER_BUDGET else None,
    )
    keep_s = (next_month - whose.now + timedelta(days=7)).total_seconds()
    await store.seed(keys=claim.keys, used=used, ttl_s=keep_s)


async def admit(
    *,
    tenant_id: int,
    user_id: int,
    limits: TenantLimits,
    allowance: Spend,
    user_budget: int | None = None,
    conversation_id: int | None = None,
    visitor: VisitorLimits | None = None,
    new_conversation: bool = False,
) -> Ticket | None:
    """Admit one message (one atomic call to the store) or raise ``Refusal``. A refused message
    consumes nothing. ``allowance``: the most its answer may spend, held against the tenant's
    monthly budget, the member's own (``user_budget``) and the cost cap of ``conversation_id``.
    A widget ``visitor``'s windows are checked in the same call (``new_conversation``: the
    message starts one)."""
    if not settings.LIMITS_ENABLED:
        return None
    store = get_limit_store()
    lease = StreamLease(
        key=f"{tenant_prefix(tenant_id)}:streams",
        lease_id=uuid.uuid4().hex,
        max_streams=limits.max_concurrent_streams,
        ttl_s=settings.STREAM_LEASE_TTL_S,
    )
    windows = rate_limits(tenant_id=tenant_id, user_id=user_id, limits=limits)
    if visitor is not None:
        windows += visitor_rate_limits(
            tenant_id=tenant_id, user_id=user_id, visitor=visitor, new_conversation=new_conversation
        )
    whose = _Whose(tenant_id, user_id, conversation_id, timezone.now().astimezone(UTC))
    claims = _claims(whose, limits, allowance, user_budget)
    platform = platform_rate_limit()
    try:
        if platform is not None and (wait := await store.take(limit=platform)) is not None:
            raise _rate_refusal(platform.name, wait, limits)
        try:
            return await _admit_in_tenant(store, windows, lease, claims, whose, limits)
        except BaseException:
            if platform is not None:
                with contextlib.suppress(LimitStoreUnavailable):  # else it lapses with its window
                    await store.give_back(limit=platform)
            raise
    except LimitStoreUnavailable as exc:
        log.error("limits.unavailable", error=str(exc))
        raise Refusal(
            "SERVICE_UNAVAILABLE", "limits cannot be checked right now; try again shortly", retry_after=5
        ) from exc


async def _admit_in_tenant(
    store: LimitStore,
    windows: list[RateLimit],
    lease: StreamLease,
    claims: tuple[BudgetClaim, ...],
    whose: _Whose,
    limits: TenantLimits,
) -> Ticket:
    """The tenant's part of ``admit``: one atomic call over the tenant's keys (one slot)."""
    admission = await store.admit(limits=windows, lease=lease, claims=claims)
    for _ in claims:  # at most each budget once
        if not admission.needs_seed:
            break
        await _seed(store, next(c for c in claims if c.keys == admission.seed), whose)
        admission = await store.admit(limits=windows, lease=lease, claims=claims)
    if admission.needs_seed:  # the seed vanished at once (a flush in between): try later
        raise LimitStoreUnavailable("the budget counters could not be rebuilt")
    if not admission.admitted:
        refused = next((claim for claim in claims if claim.name == admission.refused_by), None)
        if refused is None:
            raise _rate_refusal(admission.refused_by, admission.retry_after, limits)
        raise _over_budget(admission, refused, whose, limits)
    held = dict(zip((claim.name for claim in claims), admission.held, strict=True))
    released = asyncio.Event()
    renewer = asyncio.ensure_future(_keep_renewed(store, lease, released))
    tenant, member = held.get(TENANT_BUDGET), held.get(USER_BUDGET)
    return Ticket(
        store=store,
        lease=lease,
        claims=claims,
        renewer=renewer,
        released=released,
        budget_left=None
        if tenant is None or limits.monthly_token_budget is None
        else max(0, limits.monthly_token_budget - sum(tenant)),
        user_used=None if member is None else sum(member),
    )


def _over_budget(admission: Admission, claim: BudgetClaim, whose: _Whose, limits: TenantLimits) -> Refusal:
    """The refusal of a message whose reservation does not fit in ``claim``'s budget."""
    if claim.name == CONVERSATION_COST:
        spent, held, most, cap = (
            Decimal(n) / _MICRO for n in (admission.used, admission.reserved, claim.amount, claim.budget)
        )
        others = f", {held:.4f} USD more are held by answers in progress" if held else ""
        return Refusal(
            "CONVERSATION_BUDGET_EXCEEDED",
            f"This conversation has cost {spent:.4f} USD of its {cap:.4f} USD cap{others}, and an "
            f"answer may cost up to {most:.4f} USD; start a new conversation.",
        )
    (month_start, next_month), now = whose.month, whose.now
    retry_after = round((next_month - now).total_seconds())
    if claim.name == USER_BUDGET:
        return Refusal(
            "BUDGET_EXCEEDED",
            f"You have used {admission.used:,} of your {claim.budget:,} tokens for {month_start:%B %Y} "
            f"in this workspace. Your allowance resets on {next_month:%-d %B %Y} (UTC); its admins "
            "can raise it.",
            retry_after=retry_after,
            limit="user",
        )
    others = f" ({admission.reserved:,} more are held by answers in progress)" if admission.reserved else ""
    return Refusal(
        "BUDGET_EXCEEDED",
        f"This workspace has used {admission.used:,} of its {claim.budget:,} tokens "
        f"for {month_start:%B %Y}{others}. The budget resets on {next_month:%-d %B %Y} (UTC); "
        f"a higher tier than {limits.tier_name} lifts it.",
        retry_after=retry_after,
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


async def finish(ticket: Ticket | None, *, spent: Spend) -> None:
    """Free the stream slot and settle the reservations to what the answer spent (one call).
    Every await here is bounded: the renewer's stop, and the store call (the client's timeouts)."""
    if ticket is None:
        return
    ticket.released.set()
    ticket.renewer.cancel()
    await asyncio.wait({ticket.renewer}, timeout=_RENEWER_STOP_S)
    if not ticket.renewer.done():
        log.error("limits.renewer_stuck", lease_id=ticket.lease.lease_id)
    try:
        await ticket.store.finish(
            lease=ticket.lease, spent=[(claim.keys, _amount(claim.name, spent)) for claim in ticket.claims]
        )
    except LimitStoreUnavailable as exc:
        # The ledger has the usage; the slot and the reservation lapse on their own.
        log.warning("limits.finish_failed", error=str(exc))


_CHARGE = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('HINCRBY', key, 'used', ARGV[i]) end
end
"""


def charge_background(*, tenant_id: int, conversation_id: int | None, spent: Spend) -> None:
    """Count what was spent outside a chat message (summaries, titles) against this month's
    budget counters and the conversation's cost counters in Redis, where they exist; absent
    counters are rebuilt from the ledger, which holds this usage already. Sync: background tasks
    call it. Without Redis (the embedded default) the in-process counters see it only after a
    restart."""
    if not settings.REDIS_URL or spent.tokens <= 0:
        return
    import redis

    now = timezone.now().astimezone(UTC)
    keys = [budget_keys(tenant_id=tenant_id, month=f"{month_bounds(now)[0]:%Y-%m}").counters]
    amounts = [spent.tokens]
    if conversation_id is not None:
        keys.append(conversation_cost_keys(tenant_id=tenant_id, conversation_id=conversation_id).counters)
        amounts.append(micro_usd(spent.cost_usd))
    try:
        _charging(settings.REDIS_URL, settings.LIMITS_REDIS_TIMEOUT)(keys=keys, args=amounts)
    except redis.RedisError as exc:
        log.warning("limits.charge_failed", error=str(exc))


@functools.lru_cache(maxsize=4)
def _charging(url: str, timeout: float) -> Any:
    """The charge script on a client kept for the process (by the Redis it is for): a task's
    charge was a connection made and closed, and the whole script sent, each time."""
    from infra.redis_topology import sync_client

    return sync_client(socket_timeout=timeout).register_script(_CHARGE)


def ticket_state(ticket: Ticket | None) -> dict[str, Any] | None:
    """What settling ``ticket`` needs, as JSON: kept with a generation so that another process
    can settle it if this one dies (``chat.turns.reaper``)."""
    if ticket is None:
        return None
    return {
        "lease_key": ticket.lease.key,
        "lease_id": ticket.lease.lease_id,
        "claims": [
            [claim.name, claim.keys.counters, claim.keys.expiries, claim.keys.amounts]
            for claim in ticket.claims
        ],
    }


async def finish_lost(state: dict[str, Any] | None, *, spent: Spend) -> None:
    """``finish`` for a ticket whose process died: free its slot, settle its reservations."""
    if state is None or not settings.LIMITS_ENABLED:
        return
    lease = StreamLease(key=state["lease_key"], lease_id=state["lease_id"], max_streams=0, ttl_s=0)
    # A record written before "claims" (a rolling upgrade) names its two token budgets.
    claims = state.get("claims") or [
        [name, *state[name]] for name in (TENANT_BUDGET, USER_BUDGET) if state.get(name)
    ]
    try:
        await get_limit_store().finish(
            lease=lease, spent=[(BudgetKeys(*keys), _amount(name, spent)) for name, *keys in claims]
        )
    except LimitStoreUnavailable as exc:
        log.warning("limits.finish_failed", error=str(exc))
