"""Celery with a real worker process on the real Redis broker: the idle-conversation beat task
end to end, and the task metrics the worker serves."""

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from chat.models import Conversation
from chat.tasks import close_idle_conversations
from chatplatform import metrics
from chatplatform.celery import app
from tests.conftest import World
from tests.live import ROOT, free_port
from tests.test_metrics import value


@pytest.fixture(scope="module")
def worker(django_db_setup: None, django_db_blocker: Any) -> Iterator[int]:
    """A worker on the test database and the suite's Redis broker; yields its metrics port."""
    port = free_port()
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_METRICS_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "chatplatform",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "2",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _scrape(port):
        time.sleep(0.3)
    yield port
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return response.read().decode()
    except OSError:
        return ""


def test_the_worker_ends_idle_conversations_per_tenant_setting(world: World, worker: int) -> None:
    now = timezone.now()
    world.acme.idle_close_minutes = 30
    world.acme.save()
    world.globex.idle_close_minutes = 120
    world.globex.save()
    idle = Conversation.objects.create(
        tenant=world.acme, user=world.alice, last_message_at=now - timedelta(hours=1)
    )
    recent = Conversation.objects.create(
        tenant=world.acme, user=world.bob, last_message_at=now - timedelta(minutes=5)
    )
    # An hour idle is not enough for globex, which allows two.
    patient = Conversation.objects.create(
        tenant=world.globex, user=world.carol, last_message_at=now - timedelta(hours=1)
    )
    close_idle_conversations.delay()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Conversation.all_tenants.get(pk=idle.pk).ended_at is None:
        time.sleep(0.2)
    assert Conversation.all_tenants.get(pk=idle.pk).ended_at is not None
    assert Conversation.all_tenants.get(pk=recent.pk).ended_at is None
    assert Conversation.all_tenants.get(pk=patient.pk).ended_at is None

    scraped = ""
    labels = {"task": "chat.tasks.close_idle_conversations", "state": "SUCCESS"}
    while time.monotonic() < deadline and value(scraped, "celery_task_seconds_count", **labels) < 1:
        scraped = _scrape(worker)
    assert value(scraped, "celery_task_seconds_count", **labels) >= 1
    assert value(scraped, "celery_task_seconds_sum", **labels) > 0


@app.task(name="tests.explode")
def explode() -> None:
    raise RuntimeError("boom")


def test_a_failing_task_is_counted() -> None:
    before = metrics.CELERY_TASK_FAILURES.labels("tests.explode")._value.get()
    assert explode.apply(throw=False).failed()  # run here, through Celery's own task tracer and its signals
    assert metrics.CELERY_TASK_FAILURES.labels("tests.explode")._value.get() == before + 1
