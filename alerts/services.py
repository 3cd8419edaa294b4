"""Writes to a tenant's alerts: a rule changed by its owners and admins (found in the tenant by
the caller), an alert acknowledged (found here inside the tenant; None: not the tenant's)."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from alerts.models import Alert, AlertRule
from tenants.changes import Change, shown, tell_changed


def alert_rule_update(*, rule: AlertRule, fields: dict[str, Any]) -> AlertRule:
    """``rule`` as found in its tenant (``AlertRule.objects.for_tenant``), with ``fields`` saved."""
    before = shown(rule, fields)
    with transaction.atomic():
        for name, value in fields.items():
            setattr(rule, name, value)
        rule.save(update_fields=list(fields))
        tell_changed(
            tenant_id=rule.tenant_id,
            change=Change.ALERT_RULE_CHANGED,
            target=str(rule.metric),
            before=before,
            after=shown(rule, fields),
        )
    return rule


def alert_acknowledge(*, alert: Alert, user_id: int) -> Alert:
    """Someone is on it (the alert stays open until its figure recovers); a second
    acknowledgement keeps the first one's time and person."""
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by_id = timezone.now(), user_id
        alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return alert
