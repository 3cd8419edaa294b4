"""Writing the audit log."""

from typing import Any

from audit.models import AuditEntry
from infra.acting import current_actor


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
