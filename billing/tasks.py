from celery import shared_task

from billing.notices import budget_warning_send
from infra.tasks import retried


@shared_task(**retried())
def send_budget_warning(tenant_id: int, user_id: int, used: int, budget: int) -> int:
    return budget_warning_send(tenant_id=tenant_id, user_id=user_id, used=used, budget=budget)
