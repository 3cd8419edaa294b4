"""Celery tasks of the inbox: the notifications of a handoff, and the minute's sweep that moves
waiting conversations to agents online and overdue ones to the next agent."""

from celery import shared_task
from django.utils import timezone

from inbox import notify
from inbox.presence import presence_sweep
from inbox.services import overdue_reassign, waiting_route
from infra.tasks import retried
from tenants.models import Tenant

_RETRIED = retried()


@shared_task(**_RETRIED)
def send_escalation_email(tenant_id: int, conversation_id: int, asking: str = "") -> bool:
    return notify.escalation_email_send(
        tenant_id=tenant_id, conversation_id=conversation_id, asking=asking, now=timezone.now()
    )


@shared_task(**_RETRIED)
def route_conversations() -> int:
    """Beat, every minute: stale presence swept; for every active tenant, overdue conversations
    reassigned and waiting ones given to the agents online."""
    now = timezone.now()
    presence_sweep(now=now)
    moved = 0
    tenants = Tenant.objects.filter(active=True).values_list("pk", "handoff_reply_minutes")
    for tenant_id, reply_minutes in tenants:
        if reply_minutes:
            moved += overdue_reassign(tenant_id=tenant_id, reply_minutes=reply_minutes, now=now)
        moved += waiting_route(tenant_id=tenant_id, now=now)
    return moved
