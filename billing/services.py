"""Writes to the usage ledger."""

from collections.abc import Mapping, Sequence
from typing import Any

from billing.models import UsageRecord


def usage_records_create(*, records: Sequence[Mapping[str, Any]]) -> None:
    """Add records to the ledger, given by field (each names its tenant; the manager refuses one
    that does not)."""
    UsageRecord.objects.insert_rows(records)
