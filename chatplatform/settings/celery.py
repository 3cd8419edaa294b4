"""Celery: a Redis broker in production, tasks run in-process (eager) by default."""

from chatplatform.env import env_str

from .data_stores import REDIS_URL

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not (env_str("CELERY_BROKER_URL") or REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "close-idle-conversations": {"task": "chat.tasks.close_idle_conversations", "schedule": 300.0},
    "purge-expired-history": {"task": "chat.tasks.purge_expired_history", "schedule": 3600.0},
    "compute-daily-stats": {"task": "chat.tasks.compute_daily_stats", "schedule": 900.0},
}
