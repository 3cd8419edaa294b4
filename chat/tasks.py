"""Celery tasks of the chat app. Each is idempotent, tenant-scoped (it takes the tenant's id and
reads only inside it) and retried with backoff on database errors; the work itself is in
``chat.history.background`` and ``chat.services``."""

from typing import Any

import structlog
from celery import shared_task
from django.utils import timezone

from chat import analytics
from chat.files import unsent_files_purge
from chat.gateway.llm import UpstreamError
from chat.history import background
from chat.services import conversations_close_idle
from infra.tasks import retried
from tenants.models import Tenant

log = structlog.stdlib.get_logger(__name__)

_RETRIED = retried()
_RETRIED_UPSTREAM = retried(UpstreamError)


@shared_task(**_RETRIED_UPSTREAM)
def background_work(work: list[list[Any]]) -> int:
    """A batch of summaries and titles (``chat.history.background_queue``): ``[kind, tenant_id,
    conversation_id]`` each. A failure is retried with the whole batch (a database or the model
    away: the first such error is raised); the work already done is found done at once."""
    results = background.background_run([(str(kind), int(t), int(c)) for kind, t, c in work])
    failed = [result for result in results if isinstance(result, Exception)]
    for error in failed:
        log.warning("chat.background_work_failed", error=repr(error))
    if failed:
        retried = [error for error in failed if isinstance(error, _RETRIED_UPSTREAM["autoretry_for"])]
        raise (retried or failed)[0]
    return len(results)


# One conversation's summary or title: the tasks queued before batching (by an earlier release).
@shared_task(**_RETRIED_UPSTREAM)
def summarize_conversation(tenant_id: int, conversation_id: int) -> bool:
    return background.conversation_summarize(tenant_id=tenant_id, conversation_id=conversation_id)


@shared_task(**_RETRIED_UPSTREAM)
def title_conversation(tenant_id: int, conversation_id: int) -> str:
    return background.conversation_title(tenant_id=tenant_id, conversation_id=conversation_id)


@shared_task(**_RETRIED)
def close_idle_conversations() -> int:
    """Beat: end every tenant's conversations idle for longer than the tenant's setting."""
    now = timezone.now()
    closed = 0
    for tenant_id, idle_minutes in Tenant.objects.filter(active=True).values_list("pk", "idle_close_minutes"):
        closed += conversations_close_idle(tenant_id=tenant_id, idle_minutes=idle_minutes, now=now)
    return closed


@shared_task(**_RETRIED)
def purge_expired_history() -> int:
    """Beat: delete messages past each tenant's retention."""
    now = timezone.now()
    purged = 0
    tenants = Tenant.objects.filter(retention_days__isnull=False).values_list("pk", "retention_days")
    for tenant_id, days in tenants:
        purged += background.history_purge(tenant_id=tenant_id, retention_days=days or 0, now=now)
    unsent_files_purge(now=now)
    return purged


@shared_task(**_RETRIED)
def compute_daily_stats() -> int:
    """Beat: recompute the days and hours that can still change, for every active tenant."""
    now = timezone.now()
    written = 0
    for tenant_id in Tenant.objects.filter(active=True).values_list("pk", flat=True):
        written += analytics.tenant_stats_refresh(tenant_id=tenant_id, now=now)
    return written
