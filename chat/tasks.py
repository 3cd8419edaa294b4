"""Celery tasks of the chat app. Each is idempotent, tenant-scoped and retried with backoff on
database errors."""

from celery import shared_task
from django.db import DatabaseError
from django.utils import timezone

from chat.services import conversations_close_idle
from tenants.models import Tenant


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, max_retries=5)
def close_idle_conversations() -> int:
    """Beat: end every tenant's conversations idle for longer than the tenant's setting."""
    now = timezone.now()
    closed = 0
    for tenant_id, idle_minutes in Tenant.objects.filter(active=True).values_list("pk", "idle_close_minutes"):
        closed += conversations_close_idle(tenant_id=tenant_id, idle_minutes=idle_minutes, now=now)
    return closed
