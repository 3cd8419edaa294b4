"""Writes to the usage ledger."""

from collections.abc import Sequence

from billing.models import UsageRecord


def usage_records_create(*, records: Sequence[UsageRecord]) -> None:
    """Add records to the ledger (each names its tenant; the manager refuses one that does not)."""
    UsageRecord.objects.bulk_create(list(records))
