"""Telling a tenant about an alert, once when it opens and once when it resolves: an e-mail to
its owners (and its escalation address, if set), and the event ``alert.opened`` /
``alert.resolved`` (``tenants.events``), which the webhooks deliver: to the tenant's alert
webhook (``"event": "opened"``/``"resolved"``, as it always had) and to the endpoints that
subscribe to it."""

from typing import Any

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from alerts.evaluation import OPENED
from alerts.models import Alert
from tenants.events import Event, emit
from tenants.models import Role
from tenants.selectors import member_emails

log = structlog.stdlib.get_logger(__name__)


def alert_payload(alert: Alert, event: str) -> dict[str, Any]:
    rule = alert.rule
    return {
        "event": event,
        "tenant": alert.tenant.slug,
        "alert_id": alert.pk,
        "metric": rule.metric,
        "direction": rule.direction,
        "threshold": rule.threshold,
        "value": alert.value if event == OPENED else alert.last_value,
        "window_minutes": rule.window_minutes,
        "opened_at": alert.opened_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
    }


def alert_notify(*, tenant_id: int, alert_id: int, event: str) -> bool:
    """Send the notification of ``event`` (opened / resolved) unless it was sent; True if sent."""
    field = "notified_opened_at" if event == OPENED else "notified_resolved_at"
    with transaction.atomic():
        alert = (
            Alert.objects.for_tenant(tenant_id)
            .select_for_update(of=("self",))
            .select_related("rule", "tenant")
            .filter(pk=alert_id)
            .first()
        )
        if alert is None or getattr(alert, field) is not None:
            return False
        payload = alert_payload(alert, event)
        _email(alert, payload)
        emit(
            tenant_id=tenant_id,
            event=Event.ALERT_OPENED if event == OPENED else Event.ALERT_RESOLVED,
            data={k: v for k, v in payload.items() if k not in ("event", "tenant")},
        )
        setattr(alert, field, timezone.now())
        alert.save(update_fields=[field])
    return True


def _email(alert: Alert, payload: dict[str, Any]) -> None:
    tenant = alert.tenant
    owners = member_emails(tenant_id=tenant.pk, roles=[Role.OWNER])
    recipients = sorted(set(owners) | ({tenant.escalation_email} - {""}))
    if not recipients:
        log.warning("alerts.no_recipient", alert_id=alert.pk)
        return
    rule = alert.rule
    what = f"{rule.get_metric_display()} is {payload['value']:.4g} ({rule.direction} {rule.threshold:g})"
    verb = "Alert" if payload["event"] == OPENED else "Resolved"
    send_mail(
        subject=f"[{tenant.name}] {verb}: {rule.get_metric_display()}",
        message=(
            f"{verb} for {tenant.name}: {what} over the last {rule.window_minutes} minutes.\n\n"
            f"Opened {payload['opened_at']}"
            + (f", resolved {payload['resolved_at']}" if payload["resolved_at"] else "")
            + f".\nRules and history: {settings.SITE_URL}/console/alerts/\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )
