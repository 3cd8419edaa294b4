"""Celery under faults, with real worker processes on the real Redis broker: a worker killed in
the middle of a summary hands it to the next worker within the visibility timeout, and however
often a summary is delivered, it is written and billed once."""

import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from billing.models import UsageRecord
from chat.history.background import SUMMARIZER_PROMPT, conversation_summarize
from chat.models import Conversation, Message, Role
from chat.tasks import summarize_conversation
from testkit.fake_openai import FakeOpenAI
from testkit.worker import CeleryWorker, wait_for
from testkit.world import World, worker_database_url

# The messages ask the fake model for a slow answer: the summary's upstream call lasts ~4 s.
SLOW = "[[tokens=20]] [[delay=0.2]]"
VISIBILITY_TIMEOUT_S = 12


def conversation_to_summarize(world: World) -> Conversation:
    """Four messages: with CHAT_SUMMARY_KEEP_RECENT=2 (the test workers), two get folded."""
    conversation = Conversation.objects.create(tenant=world.acme, user=world.alice)
    for n, role in enumerate([Role.USER, Role.ASSISTANT, Role.USER, Role.ASSISTANT]):
        Message.objects.create(
            tenant=world.acme, conversation=conversation, role=role, content=f"message {n} {SLOW}"
        )
    return conversation


def summary_calls(fake: FakeOpenAI) -> int:
    return sum(1 for c in fake.calls if c.messages[0]["content"] == SUMMARIZER_PROMPT)


def summary_records(conversation: Conversation) -> int:
    return (
        UsageRecord.objects.for_tenant(conversation.tenant_id)
        .filter(conversation=conversation, purpose="summary")
        .count()
    )


def test_a_worker_killed_mid_summary_hands_it_on_and_it_is_billed_once(
    world: World, fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    conversation = conversation_to_summarize(world)
    worker = CeleryWorker(
        database_url=worker_database_url(),
        redis_url=settings.REDIS_URL,
        llm_url=fake_llm.url,
        mail_dir=tmp_path,
        extra_env={
            "CELERY_TASK_TIME_LIMIT_S": "10",
            "CELERY_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
        },
    ).start()
    try:
        summarize_conversation.delay(world.acme.pk, conversation.pk)
        assert wait_for(lambda: summary_calls(fake_llm) == 1, timeout=60), "the worker never asked for it"
        worker.kill()  # in the middle of the upstream call: nothing written, nothing acknowledged
        conversation.refresh_from_db()
        assert conversation.summary == "" and summary_records(conversation) == 0

        killed_at = time.monotonic()
        worker.start(clear_queue=False)

        def summarized() -> bool:
            conversation.refresh_from_db()
            return bool(conversation.summary)

        assert wait_for(summarized, timeout=VISIBILITY_TIMEOUT_S + 90), "the task was never handed on"
        assert time.monotonic() - killed_at >= VISIBILITY_TIMEOUT_S - 1  # not before it could be running
    finally:
        worker.stop()
    assert summary_records(conversation) == 1
    assert conversation.summary_message_count == 2
    assert summary_calls(fake_llm) == 2  # the killed call and the one that finished


def test_a_summary_delivered_twice_at_once_is_written_and_billed_once(
    world: World, fake_llm: FakeOpenAI, settings: Any
) -> None:
    """Two runs of the same task at the same moment (a redelivery while the first still runs):
    both ask the model, one bills and writes, the other finds the work billed and writes nothing."""
    settings.CHAT_SUMMARY_KEEP_RECENT = 2
    conversation = conversation_to_summarize(world)
    written: list[bool] = []

    def run() -> None:
        try:
            written.append(conversation_summarize(tenant_id=world.acme.pk, conversation_id=conversation.pk))
        finally:
            connection.close()

    runs = [threading.Thread(target=run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(60)
    assert sorted(written) == [False, True]
    assert summary_calls(fake_llm) == 2
    assert summary_records(conversation) == 1
    conversation.refresh_from_db()
    assert conversation.summary_message_count == 2
