"""The audit log records what the tenants' services say changed (``tenants.changes``)."""

from typing import Any

from audit.services import audit_record
from tenants.changes import tenant_changed


def _record(*, tenant_id: int, change: str, target: str, changes: dict[str, Any], **_: Any) -> None:
    audit_record(tenant_id=tenant_id, action=str(change), target=target, changes=changes)


def connect() -> None:
    tenant_changed.connect(_record, dispatch_uid="audit.record")
