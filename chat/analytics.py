"""Analytics per tenant, computed from the conversations, answers, usage records and counted
events of a period (UTC): each day (``DailyTenantStats``, in total and per experiment variant)
and each hour (``HourlyTenantStats``, in total, kept ``HOURLY_KEEP_DAYS``).

Incremental: the beat task recomputes only the periods that can still change (today and
yesterday, this hour and the last: late answers land there) for each active tenant, plus a
backfill for a tenant that has no statistics yet. Recomputing a period replaces its rows, so the
task can run any number of times.
"""

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from billing.models import UsageRecord
from chat.events import PII_REDACTED, REFUSED, hour_start
from chat.models import (
    Conversation,
    DailyTenantStats,
    FinishReason,
    HourlyTenantStats,
    Message,
    Role,
    TenantEventCount,
)
from chat.selectors import active_users
from tenants.stats import percentile

BACKFILL_DAYS = 30
_CHANNEL_COUNTS = ("conversations", "answers", "resolved", "escalated", "csat_count", "csat_sum")
BACKFILL_HOURS = 48
HOURLY_KEEP_DAYS = 14


def day_start(day: date) -> datetime:
    """The day's first moment (UTC)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _figures(tenant_id: int, start: datetime, end: datetime, *, by_variant: bool) -> dict[int | None, dict]:
    """The period's figures, as model fields: in total (key None) and, ``by_variant``, per
    experiment variant."""
    groups: dict[int | None, dict[str, Any]] = defaultdict(
        lambda: {"ratings": [], "ttft": [], "latency": [], "models": Counter(), "costs": defaultdict(Decimal)}
    )

    def both(variant_id: int | None) -> list[dict[str, Any]]:
        return [groups[None]] + ([groups[variant_id]] if by_variant and variant_id is not None else [])

    conversations = Conversation.objects.for_tenant(tenant_id).filter(
        started_at__gte=start, started_at__lt=end
    )
    # The total row's figures per channel too: the chat page or a widget site (``by_channel``).
    channels: dict[str, dict[str, Any]] = defaultdict(
        lambda: dict.fromkeys(_CHANNEL_COUNTS, 0) | {"cost_usd": Decimal(0)}
    )
    handoff = _HandoffFigures()
    for variant_id, site_id, resolved, escalated, rating, escalated_at, human_at in conversations.values_list(
        "variant_id", "site_id", "resolved", "escalated", "rating", "escalated_at", "first_human_reply_at"
    ):
        handoff.add(resolved, escalated, rating, escalated_at, human_at)
        channel = channels[channel_name(site_id)]
        channel["conversations"] += 1
        channel["resolved"] += int(resolved)
        channel["escalated"] += int(escalated)
        if rating is not None:
            channel["csat_count"] += 1
            channel["csat_sum"] += rating
        for g in both(variant_id):
            g["conversations"] = g.get("conversations", 0) + 1
            g["resolved"] = g.get("resolved", 0) + int(resolved)
            g["escalated"] = g.get("escalated", 0) + int(escalated)
            if rating is not None:
                g["ratings"].append(rating)
    answers = Message.objects.for_tenant(tenant_id).filter(
        role=Role.ASSISTANT, created_at__gte=start, created_at__lt=end
    )
    for variant_id, site_id, model, cached, ttft, latency, finish_reason in answers.values_list(
        "variant_id", "conversation__site_id", "model", "cached", "ttft_ms", "latency_ms", "finish_reason"
    ):
        channels[channel_name(site_id)]["answers"] += 1
        for g in both(variant_id):
            g["answers"] = g.get("answers", 0) + 1
            g["errors"] = g.get("errors", 0) + int(finish_reason == FinishReason.ERROR)
            g["cache_hits"] = g.get("cache_hits", 0) + int(cached)
            g["models"][model] += 1
            if ttft is not None and not cached:
                g["ttft"].append(ttft)
            if latency is not None:
                g["latency"].append(latency)
    usage = UsageRecord.objects.for_tenant(tenant_id).filter(created_at__gte=start, created_at__lt=end)
    for variant_id, site_id, model, tokens_in, tokens_out, cost in usage.values_list(
        "message__variant_id",
        "message__conversation__site_id",
        "model",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    ):
        channels[channel_name(site_id)]["cost_usd"] += cost
        for g in both(variant_id):
            g["input_tokens"] = g.get("input_tokens", 0) + tokens_in
            g["output_tokens"] = g.get("output_tokens", 0) + tokens_out
            g["costs"][model] += cost
    total = groups[None]  # a period with nothing still gets its (empty) total row
    total.update(_tenant_only_figures(tenant_id, start, end))
    total["by_channel"] = {name: {**f, "cost_usd": f"{f['cost_usd']:f}"} for name, f in channels.items()}
    total["handoff"] = handoff.stored()
    return {
        variant_id: {
            "conversations": g.get("conversations", 0),
            "answers": g.get("answers", 0),
            "resolved": g.get("resolved", 0),
            "escalated": g.get("escalated", 0),
            "csat_count": len(g["ratings"]),
            "csat_sum": sum(g["ratings"]),
            "input_tokens": g.get("input_tokens", 0),
            "output_tokens": g.get("output_tokens", 0),
            "cost_usd": sum(g["costs"].values(), Decimal(0)),
            "cost_by_model": {model: f"{cost:f}" for model, cost in g["costs"].items()},
            "model_mix": dict(g["models"]),
            "cache_hits": g.get("cache_hits", 0),
            "ttft_p50_ms": percentile(g["ttft"], 50),
            "ttft_p95_ms": percentile(g["ttft"], 95),
            "latency_p50_ms": percentile(g["latency"], 50),
            "latency_p95_ms": percentile(g["latency"], 95),
            "ttft_p99_ms": percentile(g["ttft"], 99),
            "latency_p99_ms": percentile(g["latency"], 99),
            "errors": g.get("errors", 0),
            "refused": g.get("refused", 0),
            "refused_by_code": g.get("refused_by_code", {}),
            "active_users": g.get("active_users", 0),
            "blocked_topics": g.get("blocked_topics", 0),
            "pii_redactions": g.get("pii_redactions", 0),
            "by_channel": g.get("by_channel", {}),
            "handoff": g.get("handoff", {}),
        }
        for variant_id, g in groups.items()
    }


class _HandoffFigures:
    """The period's conversations by who answered them (issue 33): how many asked for a person,
    how many a person replied in and how soon after the request, and resolution and CSAT for
    those the assistant handled alone and those a person replied in."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(HANDOFF_COUNTS, 0)
        self.waits: list[int] = []

    def add(
        self,
        resolved: bool,
        escalated: bool,
        rating: int | None,
        escalated_at: datetime | None,
        human_at: datetime | None,
    ) -> None:
        by = "human" if human_at is not None else "bot"
        self.counts["requested"] += int(escalated)
        self.counts[by] += 1
        self.counts[f"resolved_{by}"] += int(resolved)
        if rating is not None:
            self.counts[f"csat_{by}_count"] += 1
            self.counts[f"csat_{by}_sum"] += rating
        if human_at is not None and escalated_at is not None:
            self.waits.append(max(0, round((human_at - escalated_at).total_seconds())))

    def stored(self) -> dict[str, Any]:
        return self.counts | {
            "first_reply_p50_s": percentile(self.waits, 50),
            "first_reply_p90_s": percentile(self.waits, 90),
        }


HANDOFF_COUNTS = (
    "requested",
    "bot",
    "human",
    "resolved_bot",
    "resolved_human",
    "csat_bot_count",
    "csat_bot_sum",
    "csat_human_count",
    "csat_human_sum",
)


def handoff_out(stored: dict[str, Any], conversations: int) -> dict[str, Any]:
    """A period's handoff figures as the API and the console show them: counts and rates."""
    if not stored:
        return {}

    def ratio(part: str, whole: str) -> float | None:
        return stored[part] / stored[whole] if stored.get(whole) else None

    return {
        "requested": stored["requested"],
        "handoff_rate": stored["requested"] / conversations if conversations else None,
        "human_replied": stored["human"],
        "first_reply_p50_s": stored["first_reply_p50_s"],
        "first_reply_p90_s": stored["first_reply_p90_s"],
        "resolution_rate_bot": ratio("resolved_bot", "bot"),
        "resolution_rate_human": ratio("resolved_human", "human"),
        "csat_bot": ratio("csat_bot_sum", "csat_bot_count"),
        "csat_human": ratio("csat_human_sum", "csat_human_count"),
    }


def _tenant_only_figures(tenant_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    """What only the tenant's total row has: active users, and the counted events (refusals by
    code, blocked topics, PII redactions: ``chat.events``)."""
    counts: Counter[str] = Counter()
    for name, count in (
        TenantEventCount.objects.for_tenant(tenant_id)
        .filter(hour__gte=start, hour__lt=end)
        .values_list("name", "count")
    ):
        counts[name] += count
    refused_by_code = {name[len(REFUSED) :]: n for name, n in counts.items() if name.startswith(REFUSED)}
    return {
        "active_users": active_users(tenant_id, start, end),
        "refused": sum(refused_by_code.values()),
        "refused_by_code": refused_by_code,
        "blocked_topics": refused_by_code.get("BLOCKED_TOPIC", 0),
        "pii_redactions": counts[PII_REDACTED],
    }


def channel_name(site_id: int | None) -> str:
    """A channel's key in ``by_channel``: ``chat`` (the chat page, protocol clients) or
    ``site:<id>`` (a widget site)."""
    return "chat" if site_id is None else f"site:{site_id}"


def day_stats(*, tenant_id: int, day: date) -> int:
    """Recompute one day of one tenant; returns how many rows it wrote."""
    start = day_start(day)
    end = start + timedelta(days=1)
    figures = _figures(tenant_id, start, end, by_variant=True)
    figures[None]["weekly_active_users"] = active_users(tenant_id, start - timedelta(days=6), end)
    rows = [
        DailyTenantStats(tenant_id=tenant_id, day=day, variant_id=variant_id, **fields)
        for variant_id, fields in figures.items()
    ]
    with transaction.atomic():
        DailyTenantStats.objects.for_tenant(tenant_id).filter(day=day).delete()
        DailyTenantStats.objects.bulk_create(rows)
    return len(rows)


def hour_stats(*, tenant_id: int, hour: datetime) -> int:
    """Recompute one hour (its start, UTC) of one tenant; returns how many rows it wrote (1)."""
    fields = _figures(tenant_id, hour, hour + timedelta(hours=1), by_variant=False)[None]
    with transaction.atomic():
        HourlyTenantStats.objects.for_tenant(tenant_id).filter(hour=hour).delete()
        HourlyTenantStats.objects.create(tenant_id=tenant_id, hour=hour, **fields)
    return 1


def days_due(*, tenant_id: int, today: date) -> list[date]:
    """Today and yesterday; the last BACKFILL_DAYS for a tenant never computed."""
    if DailyTenantStats.objects.for_tenant(tenant_id).exists():
        return [today - timedelta(days=1), today]
    return [today - timedelta(days=n) for n in range(BACKFILL_DAYS, -1, -1)]


def hours_due(*, tenant_id: int, now: datetime) -> list[datetime]:
    """This hour and the last; the last BACKFILL_HOURS for a tenant with no hourly rows."""
    this_hour = hour_start(now)
    back = 1 if HourlyTenantStats.objects.for_tenant(tenant_id).exists() else BACKFILL_HOURS
    return [this_hour - timedelta(hours=n) for n in range(back, -1, -1)]


def tenant_stats_refresh(*, tenant_id: int, now: datetime) -> int:
    """Recompute the tenant's days and hours that can still change, and drop its hours past
    HOURLY_KEEP_DAYS; returns how many rows it wrote."""
    today = now.astimezone(UTC).date()
    written = sum(
        day_stats(tenant_id=tenant_id, day=day) for day in days_due(tenant_id=tenant_id, today=today)
    )
    written += sum(
        hour_stats(tenant_id=tenant_id, hour=hour) for hour in hours_due(tenant_id=tenant_id, now=now)
    )
    HourlyTenantStats.objects.for_tenant(tenant_id).filter(
        hour__lt=hour_start(now) - timedelta(days=HOURLY_KEEP_DAYS)
    ).delete()
    return written


def today_utc() -> date:
    return timezone.now().astimezone(UTC).date()


def stats_rows(*, tenant_id: int, start: date, end: date) -> list[dict[str, Any]]:
    """The tenant's daily totals from ``start`` to ``end`` (inclusive), with the derived rates."""
    rows = DailyTenantStats.objects.for_tenant(tenant_id).filter(
        day__gte=start, day__lte=end, variant__isnull=True
    )
    return [
        {"day": row.day.isoformat(), **_figures_out(row), "weekly_active_users": row.weekly_active_users}
        for row in rows.order_by("day")
    ]


def hourly_rows(*, tenant_id: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The tenant's hourly totals in [start, end), with the derived rates."""
    rows = HourlyTenantStats.objects.for_tenant(tenant_id).filter(hour__gte=start, hour__lt=end)
    return [
        {"hour": row.hour.astimezone(UTC).isoformat().replace("+00:00", "Z"), **_figures_out(row)}
        for row in rows.order_by("hour")
    ]


def _figures_out(row: DailyTenantStats | HourlyTenantStats) -> dict[str, Any]:
    """A period's figures as the API and the console show them: counts and the derived rates."""
    return {
        "conversations": row.conversations,
        "answers": row.answers,
        "resolution_rate": row.resolved / row.conversations if row.conversations else None,
        "escalation_rate": row.escalated / row.conversations if row.conversations else None,
        "csat_mean": row.csat_sum / row.csat_count if row.csat_count else None,
        "csat_count": row.csat_count,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "cost_usd": f"{row.cost_usd:f}",
        "cost_by_model": row.cost_by_model,
        "model_mix": row.model_mix,
        "cache_hit_rate": row.cache_hits / row.answers if row.answers else None,
        "ttft_p50_ms": row.ttft_p50_ms,
        "ttft_p95_ms": row.ttft_p95_ms,
        "latency_p50_ms": row.latency_p50_ms,
        "latency_p95_ms": row.latency_p95_ms,
        "latency_p99_ms": row.latency_p99_ms,
        "ttft_p99_ms": row.ttft_p99_ms,
        "errors": row.errors,
        "refused": row.refused,
        "refused_by_code": row.refused_by_code,
        # Of every message that got an answer or a refusal: the share that went wrong.
        "error_rate": (row.errors + row.refused) / (row.answers + row.refused)
        if row.answers + row.refused
        else None,
        "active_users": row.active_users,
        "blocked_topics": row.blocked_topics,
        "pii_redactions": row.pii_redactions,
        "cost_per_conversation_usd": f"{row.cost_usd / row.conversations:.8f}" if row.conversations else None,
        "by_channel": row.by_channel,
        "handoff": handoff_out(row.handoff, row.conversations),
    }
