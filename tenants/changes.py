"""What a tenant's people change, told to whoever keeps the record (the audit log: ``audit``).

The services that make a change tell it inside their transaction (``tell``), so the record is
written with the change or not at all; who made it is the request's actor (``infra.acting``).
"""

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
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
    TENANT_CREATED = "tenant.created"
    EXPERIMENT_CREATED = "experiment.created"
    EXPERIMENT_CHANGED = "experiment.changed"
    EXPERIMENT_DELETED = "experiment.deleted"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    API_KEY_ROTATED = "api_key.rotated"
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_CHANGED = "webhook.changed"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_DISABLED = "webhook.disabled"
    SSO_CHANGED = "sso.changed"
    SSO_REMOVED = "sso.removed"
    SCIM_USER_CHANGED = "scim.user_changed"
    SCIM_GROUP_CREATED = "scim.group_created"
    SCIM_GROUP_CHANGED = "scim.group_changed"
    SCIM_GROUP_DELETED = "scim.group_deleted"
    TOOL_CREATED = "tool.created"
    TOOL_CHANGED = "tool.changed"
    TOOL_DELETED = "tool.deleted"
    DOCUMENT_ADDED = "document.added"
    DOCUMENT_REINGESTED = "document.reingested"
    DOCUMENT_DELETED = "document.deleted"
    CURATED_CREATED = "curated.created"
    CURATED_CHANGED = "curated.changed"
    CURATED_DELETED = "curated.deleted"
    ALERT_RULE_CHANGED = "alert_rule.changed"
    SITE_CREATED = "site.created"
    SITE_CHANGED = "site.changed"
    SITE_DELETED = "site.deleted"
    SITE_SECRET_ROTATED = "site.secret_rotated"  # noqa: S105 (an action's name)
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


_SECRET = "(secret)"  # noqa: S105 (what the record shows instead of a secret)


def shown(instance: Any, fields: Iterable[str], *, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """What the record may show of ``instance``: its ``fields`` as JSON can hold them, and its
    ``secrets`` as fingerprints that only tell a change (``_masked`` turns them into "(secret)"
    before anything is told)."""
    plain = {field: _plain(getattr(instance, field)) for field in fields}
    return plain | {field: _fingerprint(getattr(instance, field)) for field in secrets}


def _fingerprint(secret: str) -> str:
    return f"{_SECRET}{hashlib.sha256(secret.encode()).hexdigest()[:16]}" if secret else ""


def _masked(value: Any) -> Any:
    return _SECRET if isinstance(value, str) and value.startswith(_SECRET) else value


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def tell_made(*, tenant_id: int, change: Change, target: str, now: Mapping[str, Any]) -> None:
    changes = {field: [None, _masked(value)] for field, value in now.items()}
    tell(tenant_id=tenant_id, change=change, target=target, changes=changes)


def tell_changed(
    *, tenant_id: int, change: Change, target: str, before: Mapping[str, Any], after: Mapping[str, Any]
) -> None:
    """Recorded when something differs (``shown`` before and after); a secret that changed shows
    as "(secret)" → "(changed)", never its value."""
    changed = {
        field: ["(secret)", "(changed)"] if _masked(values[1]) == _SECRET else values
        for field, values in differences(before, after).items()
    }
    if changed:
        tell(tenant_id=tenant_id, change=change, target=target, changes=changed)


def tell_gone(*, tenant_id: int, change: Change, target: str, was: Mapping[str, Any]) -> None:
    changes = {field: [_masked(value), None] for field, value in was.items()}
    tell(tenant_id=tenant_id, change=change, target=target, changes=changes)


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` of the fields whose value differs."""
    return {
        field: [_kept(before.get(field)), _kept(value)]
        for field, value in after.items()
        if before.get(field) != value
    }
