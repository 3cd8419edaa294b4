"""Reads of the usage ledger."""

from datetime import datetime

from django.db.models import F, Sum
from django.db.models.functions import Coalesce

from billing.models import UsageRecord


def tokens_used(*, tenant_id: int, since: datetime, until: datetime) -> int:
    """Input + output tokens the tenant used in [since, until): the budget's source of truth."""
    total = (
        UsageRecord.objects.for_tenant(tenant_id)
        .filter(created_at__gte=since, created_at__lt=until)
        .aggregate(tokens=Coalesce(Sum(F("input_tokens") + F("output_tokens")), 0))
    )
    return int(total["tokens"])
