"""The Celery app: settings under CELERY_* in Django settings, tasks found in each app.

Task metrics (durations by outcome, failures) are recorded by signals in the process that runs
the task: the worker, which serves them on ``CELERY_METRICS_PORT``, or, in the embedded default
(eager tasks), the web process's own ``/metrics``. The worker runs its tasks in threads
(``--pool threads``; they wait on PostgreSQL, Redis and the LLM) so one process holds them all.
"""

import os
import time
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")

app = Celery("chatplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_started: dict[str, float] = {}  # task id -> when it started


@signals.task_prerun.connect
def _task_started(task_id: str, **kwargs: Any) -> None:
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_ended(task_id: str, task: Any, state: str | None = None, **kwargs: Any) -> None:
    from infra import metrics

    started = _started.pop(task_id, None)
    if started is not None:
        metrics.CELERY_TASK_SECONDS.labels(task.name, state or "UNKNOWN").observe(
            time.perf_counter() - started
        )


@signals.task_failure.connect
def _task_failed(sender: Any = None, **kwargs: Any) -> None:
    from infra import metrics

    metrics.CELERY_TASK_FAILURES.labels(getattr(sender, "name", "unknown")).inc()


@signals.worker_init.connect
def _serve_worker_metrics(**kwargs: Any) -> None:
    port = os.environ.get("CELERY_METRICS_PORT")
    if port:
        from prometheus_client import start_http_server

        start_http_server(int(port), addr=os.environ.get("CELERY_METRICS_ADDR", "127.0.0.1"))
