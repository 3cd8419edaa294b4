"""Reads of the usage ledger."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate

from billing.models import ModelPrice, UsageRecord


def unpriced_models(names: Iterable[str]) -> set[str]:
    """Those of ``names`` with no price: an answer from one would be billed nothing."""
    wanted = {name for name in names if name}
    return wanted - set(ModelPrice.objects.filter(model__in=wanted).values_list("model", flat=True))


def tokens_used(*, tenant_id: int, since: datetime, until: datetime, user_id: int | None = None) -> int:
    """Input + output tokens the tenant used in [since, until): the budget's source of truth.
    With ``user_id``: the tokens of that member's answers (what their own budget counts)."""
    records = UsageRecord.objects.for_tenant(tenant_id).filter(created_at__gte=since, created_at__lt=until)
    if user_id is not None:
        records = records.filter(user_id=user_id, purpose="answer")
    total = records.aggregate(tokens=Coalesce(Sum(F("input_tokens") + F("output_tokens")), 0))
    return int(total["tokens"])


def conversation_cost(*, tenant_id: int, conversation_id: int) -> Decimal:
    """What the conversation cost so far (its answers, its title and summaries): the source of
    truth of its cost cap."""
    total = (
        UsageRecord.objects.for_tenant(tenant_id)
        .filter(conversation_id=conversation_id)
        .aggregate(total=Sum("cost_usd"))["total"]
    )
    return total or Decimal(0)


@dataclass(frozen=True, slots=True)
class UsageReport:
    totals: dict[str, Any]
    by_day: list[dict[str, Any]]
    by_model: list[dict[str, Any]]
    by_user: list[dict[str, Any]]


_SUMS = {
    "answers": Count("id"),
    "input_tokens": Coalesce(Sum("input_tokens"), 0),
    "output_tokens": Coalesce(Sum("output_tokens"), 0),
    "cached_input_tokens": Coalesce(Sum("cached_input_tokens"), 0),
    "cost_usd": Coalesce(Sum("cost_usd"), Decimal(0), output_field=DecimalField()),
    # Records of a model with no price of its own, billed at the conservative default.
    "priced_by_default": Count("id", filter=Q(priced_by_default=True)),
}


def usage_report(*, tenant_id: int, since: datetime, until: datetime) -> UsageReport:
    """Tokens and cost in [since, until), in total and by day (UTC), model and user."""
    records = UsageRecord.objects.for_tenant(tenant_id).filter(created_at__gte=since, created_at__lt=until)
    by_day = records.annotate(day=TruncDate("created_at", tzinfo=UTC)).values("day").annotate(**_SUMS)
    by_model = records.values("model").annotate(**_SUMS)
    by_user = records.values("user_id", "user__username").annotate(**_SUMS)
    return UsageReport(
        totals=records.aggregate(**_SUMS),
        by_day=list(by_day.order_by("day")),
        by_model=list(by_model.order_by("-cost_usd", "model")),
        by_user=[
            {"user_id": row.pop("user_id"), "username": row.pop("user__username"), **row}
            for row in by_user.order_by("-cost_usd", "user_id")
        ],
    )
