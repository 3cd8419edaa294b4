"""The one retry policy of the platform's Celery tasks: every task is idempotent, so a task that
met a database it could not reach (or another error its caller names) is tried again with
exponential backoff.

A retry's countdown (at most ``retry_backoff_max``) stays below the broker's visibility timeout
(``chatplatform.settings.celery``): a task waiting to be retried is never handed to a second
worker meanwhile.
"""

from typing import Any

from django.db import DatabaseError


def retried(*also: type[Exception]) -> dict[str, Any]:
    """``@shared_task(**retried())``, or ``retried(UpstreamError)`` to retry on more."""
    return {
        "autoretry_for": (DatabaseError, *also),
        "retry_backoff": True,
        "retry_backoff_max": 120,
        "max_retries": 5,
    }
