"""The audit log's retention (beat, hourly)."""

from celery import shared_task
from django.utils import timezone

from audit.services import audit_purge
from infra.tasks import retried
from tenants.models import Tenant


@shared_task(**retried())
def purge_audit_log() -> int:
    """Delete every tenant's entries past its ``audit_retention_days`` (empty: kept)."""
    now = timezone.now()
    tenants = Tenant.objects.filter(audit_retention_days__isnull=False).values_list(
        "pk", "audit_retention_days"
    )
    return sum(audit_purge(tenant_id=pk, retention_days=days or 0, now=now) for pk, days in tenants)
