from celery import shared_task
from django.db import DatabaseError

from billing.notices import budget_warning_send


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, retry_backoff_max=120, max_retries=5)
def send_budget_warning(tenant_id: int, user_id: int, used: int, budget: int) -> int:
    return budget_warning_send(tenant_id=tenant_id, user_id=user_id, used=used, budget=budget)
