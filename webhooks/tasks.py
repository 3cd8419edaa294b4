"""Sending the deliveries: each at once when its event is kept, and again when due (beat)."""

from celery import shared_task
from django.utils import timezone

from infra.tasks import retried
from webhooks.services import delivery_attempt, due_deliveries


@shared_task(**retried())
def deliver(tenant_id: int, delivery_id: int) -> str:
    return delivery_attempt(tenant_id=tenant_id, delivery_id=delivery_id, now=timezone.now())


@shared_task(**retried())
def deliver_due() -> int:
    """Beat, every 15 s: the deliveries whose next try is due, each a task of its own."""
    due = due_deliveries(now=timezone.now())
    for tenant_id, delivery_id in due:
        deliver.delay(tenant_id, delivery_id)
    return len(due)
