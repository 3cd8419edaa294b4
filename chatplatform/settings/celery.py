"""Celery: a Redis broker in production, tasks run in-process (eager) by default."""

from infra.env import env_int, env_str
from infra.redis_topology import celery_broker

from .data_stores import REDIS_SENTINEL_PASSWORD, REDIS_TOPOLOGY, REDIS_URL

# The broker: CELERY_BROKER_URL, else the platform's Redis (its master through the Sentinels:
# kombu's sentinel transport). A Redis Cluster cannot be Celery's broker: name one apart.
_broker, _sentinel_options = (
    ("", {}) if env_str("CELERY_BROKER_URL") or not REDIS_URL else celery_broker(REDIS_TOPOLOGY)
)
if REDIS_SENTINEL_PASSWORD and _sentinel_options:
    _sentinel_options["sentinel_kwargs"] = {"password": REDIS_SENTINEL_PASSWORD}
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or _broker or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not (env_str("CELERY_BROKER_URL") or REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task is acknowledged when it ends (acks_late). One whose worker died (a SIGKILL, a lost
# machine) stays "unacked" in Redis until the broker's visibility timeout, then goes to another
# worker: that timeout sits just above the longest a task may run (its hard time limit, enforced
# by the prefork pool; the soft limit comes first), so a task still running is never handed out
# twice, and a dead worker's is taken up within minutes, not kombu's default hour. Retries wait
# less than the timeout (retry_backoff_max in infra.tasks): a countdown longer than it would be
# delivered again before it is due.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT_S", 300)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT * 9 // 10
_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT_S", CELERY_TASK_TIME_LIMIT + 60)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": _VISIBILITY_TIMEOUT,
    # How often a worker looks for a dead worker's tasks (every sweep scans: throttle 1).
    "unacked_restore_interval": max(1, min(10, _VISIBILITY_TIMEOUT // 4)),
    "unacked_restore_throttle": 1,
    **_sentinel_options,
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "close-idle-conversations": {"task": "chat.tasks.close_idle_conversations", "schedule": 300.0},
    "purge-expired-history": {"task": "chat.tasks.purge_expired_history", "schedule": 3600.0},
    "compute-daily-stats": {"task": "chat.tasks.compute_daily_stats", "schedule": 900.0},
    "evaluate-alerts": {"task": "alerts.tasks.evaluate_alerts", "schedule": 300.0},
    "fail-stuck-documents": {"task": "knowledge.tasks.fail_stuck_documents", "schedule": 600.0},
    "route-conversations": {"task": "inbox.tasks.route_conversations", "schedule": 60.0},
    "deliver-webhooks": {"task": "webhooks.tasks.deliver_due", "schedule": 15.0},
    "purge-audit-log": {"task": "audit.tasks.purge_audit_log", "schedule": 3600.0},
}
