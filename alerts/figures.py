"""The figures the alert rules watch, computed for one tenant over a window ending now, from the
stored rows (answers, conversations, the usage ledger) and the counted events (``chat.events``).
Each comes with its sample size, so a rule fires only on enough data."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q, Sum

from alerts.models import Metric
from billing.models import UsageRecord
from chat.events import PII_REDACTED, REFUSED, hour_start
from chat.models import Conversation, FinishReason, Handoff, Message, Role, TenantEventCount
from chat.selectors import active_users
from tenants.stats import percentile

BASELINE_DAYS = 7  # the safety spike compares the window with the same window on these days


@dataclass(frozen=True, slots=True)
class Figure:
    value: float | None
    samples: int


def _events(tenant_id: int, start: datetime, end: datetime) -> dict[str, int]:
    """Counted events in the hours that overlap [start, end) (hour buckets)."""
    counts: dict[str, int] = {}
    rows = TenantEventCount.objects.for_tenant(tenant_id).filter(hour__gte=hour_start(start), hour__lt=end)
    for name, count in rows.values_list("name", "count"):
        counts[name] = counts.get(name, 0) + count
    return counts


def _safety(counts: dict[str, int]) -> int:
    return counts.get(f"{REFUSED}BLOCKED_TOPIC", 0) + counts.get(PII_REDACTED, 0)


def window_figures(*, tenant_id: int, now: datetime, window: timedelta) -> dict[str, Figure]:
    start = now - window
    answers = list(
        Message.objects.for_tenant(tenant_id)
        .filter(role=Role.ASSISTANT, created_at__gte=start, created_at__lt=now)
        .values_list("latency_ms", "finish_reason")
    )
    latencies = [latency for latency, _ in answers if latency is not None]
    failed = sum(1 for _, finish in answers if finish == FinishReason.ERROR)
    counts = _events(tenant_id, start, now)
    refused = sum(n for name, n in counts.items() if name.startswith(REFUSED))
    conversations = list(
        Conversation.objects.for_tenant(tenant_id)
        .filter(started_at__gte=start, started_at__lt=now)
        .values_list("resolved", "escalated", "rating")
    )
    started = len(conversations)
    ratings = [rating for _, _, rating in conversations if rating is not None]
    cost = UsageRecord.objects.for_tenant(tenant_id).filter(
        created_at__gte=start, created_at__lt=now
    ).aggregate(total=Sum("cost_usd"))["total"] or Decimal(0)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return {
        Metric.RESPONSE_P50_S: Figure(p50 / 1000 if p50 is not None else None, len(latencies)),
        Metric.RESPONSE_P99_S: Figure(p99 / 1000 if p99 is not None else None, len(latencies)),
        Metric.RESOLUTION_RATE: Figure(
            sum(r for r, _, _ in conversations) / started if started else None, started
        ),
        Metric.ESCALATION_RATE: Figure(
            sum(e for _, e, _ in conversations) / started if started else None, started
        ),
        Metric.ERROR_RATE: Figure(
            (failed + refused) / (len(answers) + refused) if answers or refused else None,
            len(answers) + refused,
        ),
        Metric.COST_PER_CONVERSATION: Figure(float(cost) / started if started else None, started),
        Metric.CSAT: Figure(sum(ratings) / len(ratings) if ratings else None, len(ratings)),
        Metric.ACTIVE_USERS_DROP: _active_users_drop(tenant_id, now, window),
        Metric.SAFETY_SPIKE: _safety_spike(tenant_id, now, window, current=_safety(counts)),
        Metric.FIRST_HUMAN_REPLY_P90_S: _first_human_reply(tenant_id, now, window),
    }


def _first_human_reply(tenant_id: int, now: datetime, window: timedelta) -> Figure:
    """How long the window's requests for a person waited for a person's first reply, p90 in
    seconds: those still waiting (or held without a reply) count with their wait so far, so a
    team that answers nobody does not hide; the sample is the number of requests."""
    requests = (
        Conversation.objects.for_tenant(tenant_id)
        .filter(escalated_at__gte=now - window, escalated_at__lt=now)
        .filter(Q(first_human_reply_at__isnull=False) | Q(handoff__in=(Handoff.WAITING, Handoff.HUMAN)))
        .values_list("escalated_at", "first_human_reply_at")
    )
    waits = [((replied or now) - asked).total_seconds() for asked, replied in requests]
    return Figure(percentile(waits, 90), len(waits))


def _active_users_drop(tenant_id: int, now: datetime, window: timedelta) -> Figure:
    """How far the window's active users fell from the same window a week before (0.2: -20 %);
    the sample is last week's count."""
    week = timedelta(days=7)
    before = active_users(tenant_id, now - week - window, now - week)
    current = active_users(tenant_id, now - window, now)
    return Figure(1 - current / before if before else None, before)


def _safety_spike(tenant_id: int, now: datetime, window: timedelta, *, current: int) -> Figure:
    """The window's blocked topics and PII redactions, as a multiple of the same window's average
    on the ``BASELINE_DAYS`` before (at least one a window); the sample is the window's count."""
    day = timedelta(days=1)
    usual = [
        _safety(_events(tenant_id, now - n * day - window, now - n * day))
        for n in range(1, BASELINE_DAYS + 1)
    ]
    baseline = max(1.0, sum(usual) / len(usual))
    return Figure(current / baseline, current)
