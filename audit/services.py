"""Writing the audit log."""

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from audit.models import AuditEntry
from infra.acting import current_actor
from tenants.changes import Change, tell


def audit_record(*, tenant_id: int, action: str, target: str, changes: dict[str, Any]) -> AuditEntry:
    """One entry, by the request's actor (none: the platform)."""
    actor = current_actor()
    return AuditEntry.objects.create(
        tenant_id=tenant_id,
        actor_id=actor.user_id if actor is not None else None,
        actor_name=actor.name if actor is not None else "",
        ip=actor.ip if actor is not None else None,
        credential=actor.credential if actor is not None else "",
        action=action,
        target=target[:254],
        changes=changes,
    )


def audit_purge(*, tenant_id: int, retention_days: int, now: datetime) -> int:
    """Delete the tenant's entries older than its retention (the log's only deletion, by the
    platform), and record that it did, with how many and up to when: the record keeps no one's
    change, only that the retention ran."""
    cutoff = now - timedelta(days=retention_days)
    with transaction.atomic():
        deleted, _ = AuditEntry.objects.for_tenant(tenant_id).filter(created_at__lt=cutoff).delete()
        if deleted:
            tell(
                tenant_id=tenant_id,
                change=Change.AUDIT_PURGED,
                target="audit log",
                changes={"entries": [deleted, 0], "before": [cutoff.date().isoformat(), None]},
            )
    return deleted
