from celery import shared_task
from django.utils import timezone

from alerts.evaluation import tenant_alerts_evaluate
from alerts.notify import alert_notify
from infra.tasks import retried
from tenants.models import Tenant

_RETRIED = retried()


@shared_task(**_RETRIED)
def evaluate_alerts() -> int:
    """Beat: every active tenant's alert rules; returns how many alerts opened or resolved."""
    now = timezone.now()
    changed = 0
    for tenant_id in Tenant.objects.filter(active=True).values_list("pk", flat=True):
        changed += len(tenant_alerts_evaluate(tenant_id=tenant_id, now=now))
    return changed


@shared_task(**_RETRIED)
def notify_alert(tenant_id: int, alert_id: int, event: str) -> bool:
    return alert_notify(tenant_id=tenant_id, alert_id=alert_id, event=event)
