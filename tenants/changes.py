"""What a tenant's people change, told to whoever keeps the record (the audit log: ``audit``).

The services that make a change tell it inside their transaction (``tell``), so the record is
written with the change or not at all; who made it is the request's actor (``infra.acting``).
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from django.dispatch import Signal


class Change(StrEnum):
    MEMBER_ADDED = "member.added"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_DEACTIVATED = "member.deactivated"
    MEMBER_REACTIVATED = "member.reactivated"
    MEMBER_BUDGET_CHANGED = "member.budget_changed"
    MEMBER_REMOVED = "member.removed"
    INVITATION_SENT = "invitation.sent"
    INVITATION_REVOKED = "invitation.revoked"
    INVITATION_ACCEPTED = "invitation.accepted"
    SETTINGS_CHANGED = "settings.changed"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    API_KEY_ROTATED = "api_key.rotated"
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_CHANGED = "webhook.changed"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_DISABLED = "webhook.disabled"
    SSO_CHANGED = "sso.changed"
    SSO_REMOVED = "sso.removed"
    AUDIT_PURGED = "audit.purged"
    DATA_ERASED = "data.erased"


# Sent with ``tenant_id``, ``change`` (a ``Change``), ``target`` (whom or what, as people name it)
# and ``changes`` ({field: [before, after]}).
tenant_changed = Signal()

# A value longer than this is kept cut (a system prompt): the record says what changed, not all of it.
MAX_VALUE_CHARS = 500


def tell(*, tenant_id: int, change: Change, target: str, changes: Mapping[str, Any] | None = None) -> None:
    tenant_changed.send(
        sender=Change, tenant_id=tenant_id, change=change, target=target, changes=dict(changes or {})
    )


def _kept(value: Any) -> Any:
    return f"{value[:MAX_VALUE_CHARS]}…" if isinstance(value, str) and len(value) > MAX_VALUE_CHARS else value


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` of the fields whose value differs."""
    return {
        field: [_kept(before.get(field)), _kept(value)]
        for field, value in after.items()
        if before.get(field) != value
    }
