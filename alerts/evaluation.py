"""Evaluating a tenant's alert rules (Celery beat, ``alerts.tasks``): an alert opens when a rule's
figure crosses its threshold on enough samples, and resolves when the figure is back past the
threshold by the rule's hysteresis. Each opening and each resolution is notified once
(``alerts.notify``), after the change is committed."""

import functools
from collections import defaultdict
from datetime import datetime, timedelta

import structlog
from django.db import transaction

from alerts.defaults import default_rules_ensure
from alerts.figures import Figure, window_figures
from alerts.models import Alert, AlertRule

log = structlog.stdlib.get_logger(__name__)

OPENED, RESOLVED = "opened", "resolved"


def tenant_alerts_evaluate(*, tenant_id: int, now: datetime) -> list[tuple[int, str]]:
    """Returns the (alert id, event) pairs it queued notifications for."""
    from alerts.tasks import notify_alert

    default_rules_ensure(tenant_id=tenant_id)
    rules = list(AlertRule.objects.for_tenant(tenant_id).filter(muted=False))
    by_window: dict[int, list[AlertRule]] = defaultdict(list)
    for rule in rules:
        by_window[rule.window_minutes].append(rule)
    changes: list[tuple[int, str]] = []
    for minutes, windowed in by_window.items():
        figures = window_figures(tenant_id=tenant_id, now=now, window=timedelta(minutes=minutes))
        for rule in windowed:
            change = _apply(rule, figures[rule.metric], now)
            if change is not None:
                changes.append(change)
    for alert_id, event in changes:
        transaction.on_commit(functools.partial(notify_alert.delay, tenant_id, alert_id, event))
    return changes


@transaction.atomic
def _apply(rule: AlertRule, figure: Figure, now: datetime) -> tuple[int, str] | None:
    open_alert = (
        Alert.objects.for_tenant(rule.tenant_id).select_for_update().filter(rule=rule, state=Alert.State.OPEN)
    )
    alert = open_alert.first()
    if figure.value is None or figure.samples < rule.min_samples:
        return None
    value = figure.value
    if alert is None:
        if not rule.crossed(value):
            return None
        alert = Alert.objects.for_tenant(rule.tenant_id).create(
            tenant_id=rule.tenant_id, rule=rule, value=value, last_value=value, opened_at=now
        )
        log.info("alerts.opened", tenant_id=rule.tenant_id, metric=rule.metric, value=value)
        return alert.pk, OPENED
    alert.last_value = value
    if rule.recovered(value):
        alert.state, alert.resolved_at = Alert.State.RESOLVED, now
        alert.save(update_fields=["last_value", "state", "resolved_at"])
        log.info("alerts.resolved", tenant_id=rule.tenant_id, metric=rule.metric, value=value)
        return alert.pk, RESOLVED
    alert.save(update_fields=["last_value"])
    return None
