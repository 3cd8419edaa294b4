"""Celery with a real worker process on the real Redis broker: the idle-conversation beat task
end to end, and the task metrics the worker serves."""

import time
from datetime import timedelta

from django.utils import timezone

from chat.models import Conversation
from chat.tasks import close_idle_conversations
from chatplatform.celery import app
from infra import metrics
from testkit.worker import CeleryWorker
from testkit.world import World, metric_value


def test_the_worker_ends_idle_conversations_per_tenant_setting(
    world: World, celery_worker: CeleryWorker
) -> None:
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
    while time.monotonic() < deadline and metric_value(scraped, "celery_task_seconds_count", **labels) < 1:
        scraped = celery_worker.scrape()
    assert metric_value(scraped, "celery_task_seconds_count", **labels) >= 1
    assert metric_value(scraped, "celery_task_seconds_sum", **labels) > 0


@app.task(name="tests.explode")
def explode() -> None:
    raise RuntimeError("boom")


def test_a_failing_task_is_counted() -> None:
    before = metrics.CELERY_TASK_FAILURES.labels("tests.explode")._value.get()
    assert explode.apply(throw=False).failed()  # run here, through Celery's own task tracer and its signals
    assert metrics.CELERY_TASK_FAILURES.labels("tests.explode")._value.get() == before + 1
