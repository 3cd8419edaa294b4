"""Long conversations and the support workflow: working memory in Redis with PostgreSQL behind
it, rolling summaries and titles written by a real Celery worker, resolve and escalate, the
escalation e-mail, retention."""

import asyncio
import base64
import json
from datetime import timedelta
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import UsageRecord
from chat.gateway.llm import UpstreamError
from chat.history.background import background_run, conversation_summarize, conversation_title
from chat.history.background_queue import background_sent, background_work_due, enqueue_background_work
from chat.history.context import SUMMARY_HEADING, build_context
from chat.history.working_memory import Remembered
from chat.models import Conversation, Message
from chat.tasks import background_work, purge_expired_history
from inbox.tasks import send_escalation_email
from infra.keys import tenant_prefix
from tenants.models import Tenant
from testkit.fake_openai import FakeOpenAI
from testkit.worker import CeleryWorker, wait_for
from testkit.world import World, reconfigure
from testkit.ws import ask, frames_until, open_chat, send_message


def memory_key(tenant: Tenant, conversation_id: int) -> str:
    return f"{tenant_prefix(tenant.pk)}:conv:{conversation_id}:recent"


def last_call_messages(fake: FakeOpenAI) -> list[dict[str, str]]:
    return [m for m in fake.calls[-1].messages]


# -- working memory and the context ---------------------------------------------------------


async def test_recent_messages_come_from_redis_and_a_flush_loses_nothing(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    conversation_id = ready["conversation_id"]
    for n in range(3):
        await ask(communicator, f"question {n} [[tokens=2]]")
    client = redis.Redis.from_url(settings.REDIS_URL)
    remembered = [json.loads(item) for item in client.lrange(memory_key(world.acme, conversation_id), 0, -1)]
    assert [(role, content) for _, role, content in remembered] == [
        ("user", "question 1 [[tokens=2]]"),  # the first turn was stored before the memory existed
        ("assistant", "tok0 tok1 "),
        ("user", "question 2 [[tokens=2]]"),
        ("assistant", "tok0 tok1 "),
    ] or len(remembered) == 6
    assert 0 < client.ttl(memory_key(world.acme, conversation_id)) <= settings.CHAT_MEMORY_TTL_S

    client.flushdb()  # Redis loses everything mid-conversation
    await ask(communicator, "question 3 [[tokens=2]]")
    sent = [(m["role"], m["content"]) for m in last_call_messages(fake_llm)[1:]]
    assert sent == [
        ("user", "question 0 [[tokens=2]]"),
        ("assistant", "tok0 tok1 "),
        ("user", "question 1 [[tokens=2]]"),
        ("assistant", "tok0 tok1 "),
        ("user", "question 2 [[tokens=2]]"),
        ("assistant", "tok0 tok1 "),
        ("user", "question 3 [[tokens=2]]"),
    ]
    assert client.llen(memory_key(world.acme, conversation_id)) == 8  # refilled, then appended
    await communicator.disconnect()


def test_the_context_keeps_the_summary_and_the_newest_messages_that_fit() -> None:
    history = [
        Remembered(id=i, role="user" if i % 2 else "assistant", content=f"m{i} " * 50) for i in range(1, 21)
    ]
    context = build_context(
        system_prompt="Be brief.",
        summary="They asked about refunds.",
        summary_upto_id=10,
        history=history,
        question="And now?",
        budget_tokens=400,
    )
    system, *kept, question = context.messages
    assert system["content"] == f"Be brief.\n\n{SUMMARY_HEADING}\nThey asked about refunds."
    assert question == {"role": "user", "content": "And now?"}
    kept_ids = [int(m["content"].split()[0][1:]) for m in kept]
    assert kept_ids == sorted(kept_ids) and kept_ids[-1] == 20 and kept_ids[0] > 10  # newest, uncovered
    assert context.overflow and context.tokens <= 400
    roomy = build_context(
        system_prompt="Be brief.",
        summary="",
        summary_upto_id=None,
        history=history,
        question="?",
        budget_tokens=100_000,
    )
    assert len(roomy.messages) == 22 and not roomy.overflow


def test_background_work_is_due_once_per_crossing() -> None:
    assert background_work_due(message_count=2, uncovered=2, summarize_every=20, context_overflow=False) == [
        "title"
    ]
    assert background_work_due(
        message_count=20, uncovered=20, summarize_every=20, context_overflow=False
    ) == ["summary"]
    assert (
        background_work_due(message_count=22, uncovered=22, summarize_every=20, context_overflow=False) == []
    )
    assert background_work_due(message_count=30, uncovered=8, summarize_every=20, context_overflow=True) == [
        "summary"
    ]


# -- summaries and titles, by a real worker ---------------------------------------------------


def test_work_queued_by_a_loop_that_ended_at_once_is_sent(world: World, settings: Any) -> None:
    """The turn's event loop may end right after it queued the work (a server's shutdown): the
    process's sender thread, not the loop, sends it, and nothing is left counted in flight."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")

    async def turn_ends_and_the_loop_with_it() -> None:
        enqueue_background_work(["title"], tenant_id=world.acme.pk, conversation_id=1)
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    asyncio.run(turn_ends_and_the_loop_with_it())
    assert background_sent(timeout=30)
    assert [args for args, _, _ in queued_tasks(broker)] == [[[["title", world.acme.pk, 1]]]]


def test_work_due_together_goes_to_the_worker_as_one_task(world: World, settings: Any) -> None:
    """What falls due within ``BACKGROUND_BATCH_WINDOW_S`` is one task, whatever its tenant."""
    settings.BACKGROUND_BATCH_WINDOW_S = 0.5
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")
    enqueue_background_work(["title", "summary"], tenant_id=world.acme.pk, conversation_id=7)
    enqueue_background_work(["title"], tenant_id=world.globex.pk, conversation_id=8)
    enqueue_background_work(["summary"], tenant_id=world.acme.pk, conversation_id=7)  # due twice: once
    assert background_sent(timeout=30)
    work = [["title", world.acme.pk, 7], ["summary", world.acme.pk, 7], ["title", world.globex.pk, 8]]
    assert queued_tasks(broker) == [([work], {}, "chat.tasks.background_work")]


def queued_tasks(broker: redis.Redis) -> list[tuple[Any, Any, str]]:
    """The tasks waiting in the broker's queue: (args, kwargs, name) of each (Celery's message
    protocol 2 on kombu's Redis transport: a JSON envelope, its body base64)."""
    found = []
    for raw in reversed(broker.lrange("celery", 0, -1)):  # LPUSHed: the oldest last
        message = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        found.append((args, kwargs, message["headers"]["task"]))
    broker.delete("celery")
    return found


def test_a_batch_does_each_piece_of_work_whatever_another_met(world: World, fake_llm: FakeOpenAI) -> None:
    """One batch: two tenants' titles, a summary, a conversation that is not the tenant's, one
    the model fails on. Each is done or not on its own; the failure is returned, not raised."""
    conversations = []
    for tenant, user, question in [
        (world.acme, world.alice, "Where is my parcel?"),
        (world.globex, world.carol, "Reset my password"),
        (world.acme, world.alice, "Broken lamp [[fail-before]]"),
    ]:
        conversation = Conversation.objects.create(tenant=tenant, user=user)
        for role, content in [("user", question), ("assistant", "On it.")]:
            Message.objects.create(tenant=tenant, conversation=conversation, role=role, content=content)
        conversations.append(conversation)
    parcel, password, lamp = conversations
    results = background_run(
        [
            ("title", world.acme.pk, parcel.pk),
            ("title", world.globex.pk, password.pk),
            ("title", world.globex.pk, parcel.pk),  # acme's: no such conversation for globex
            ("title", world.acme.pk, lamp.pk),
            ("summary", world.acme.pk, parcel.pk),  # 2 messages, all kept: nothing to fold
        ]
    )
    assert isinstance(results[3], UpstreamError), results
    assert results[:3] + results[4:] == [results[0], results[1], "", False] and results[0] and results[1]
    titled = dict(
        Conversation.all_tenants.filter(pk__in=[c.pk for c in conversations]).values_list("pk", "title")
    )
    assert titled == {parcel.pk: results[0], password.pk: results[1], lamp.pk: ""}
    billed = UsageRecord.all_tenants.filter(purpose="title").values_list("tenant_id", "conversation_id")
    assert sorted(billed) == sorted([(world.acme.pk, parcel.pk), (world.globex.pk, password.pk)])


async def test_after_n_messages_a_summary_is_written_and_sent_with_the_next_request(
    world: World, fake_llm: FakeOpenAI, celery_worker: CeleryWorker
) -> None:
    await reconfigure(world.acme, summarize_after_messages=4, exact_cache_enabled=False)
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    conversation_id = ready["conversation_id"]
    await ask(communicator, "My lamp flickers. [[tokens=3]]")
    await ask(communicator, "It is the Nova model. [[tokens=3]]")  # 4 messages: a summary is due

    def summarized() -> Conversation | None:
        conversation = Conversation.all_tenants.get(pk=conversation_id)
        return conversation if conversation.summary and conversation.title else None

    conversation = await sync_to_async(wait_for)(summarized)
    assert conversation is not None, "the worker wrote no summary or title"
    # The worker kept the last 2 messages out of the summary (CHAT_SUMMARY_KEEP_RECENT=2).
    assert conversation.summary_message_count == 2
    summary_call = next(c for c in fake_llm.calls if "running summary" in c.messages[0]["content"])
    assert "My lamp flickers." in summary_call.messages[1]["content"]

    await ask(communicator, "What should I do? [[tokens=3]]")
    system, *rest = last_call_messages(fake_llm)
    assert system["content"].endswith(f"{SUMMARY_HEADING}\n{conversation.summary}")
    assert [m["content"] for m in rest] == [
        "It is the Nova model. [[tokens=3]]",
        "tok0 tok1 tok2 ",
        "What should I do? [[tokens=3]]",
    ]
    await communicator.disconnect()

    # Six messages: a second summary is due; the worker writes it before the test's data goes.
    def summarized_again() -> bool:
        return Conversation.all_tenants.get(pk=conversation_id).summary_message_count == 4

    assert await sync_to_async(wait_for)(summarized_again), "the worker wrote no second summary"
    purposes = UsageRecord.objects.for_tenant(world.acme.pk).filter(conversation_id=conversation_id)
    billed = {record.purpose async for record in purposes}
    assert billed == {"answer", "summary", "title"}


def test_the_task_of_a_batch_raises_what_one_piece_met_after_doing_the_others(
    world: World, fake_llm: FakeOpenAI
) -> None:
    """The model away for one conversation: the batch's task raises its error (Celery retries
    the batch: the title already written is found done at once, without a call)."""
    done, failing = (Conversation.objects.create(tenant=world.acme, user=world.alice) for _ in range(2))
    for conversation, question in [(done, "Where is my parcel?"), (failing, "Lamp [[fail-before]]")]:
        for role, content in [("user", question), ("assistant", "On it.")]:
            Message.objects.create(tenant=world.acme, conversation=conversation, role=role, content=content)
    with pytest.raises(UpstreamError):
        background_work.run([["title", world.acme.pk, failing.pk], ["title", world.acme.pk, done.pk]])
    done.refresh_from_db()
    assert done.title
    calls = len(fake_llm.calls)
    assert background_work.run([["title", world.acme.pk, done.pk]]) == 1
    assert len(fake_llm.calls) == calls


def test_a_summary_and_a_title_read_each_row_once(world: World, fake_llm: FakeOpenAI, settings: Any) -> None:
    """The background work reads only the columns it uses: one it left out and used after all
    would be fetched by a query of its own (Django's deferred field), caught here."""
    settings.CHAT_SUMMARY_KEEP_RECENT = 2
    conversation = Conversation.objects.create(tenant=world.acme, user=world.alice)
    for n in range(3):
        for role in ("user", "assistant"):
            Message.objects.create(
                tenant=world.acme, conversation=conversation, role=role, content=f"{role} {n}"
            )
    with CaptureQueriesContext(connection) as summary:
        assert conversation_summarize(tenant_id=world.acme.pk, conversation_id=conversation.pk)
    with CaptureQueriesContext(connection) as title:
        assert conversation_title(tenant_id=world.acme.pk, conversation_id=conversation.pk)
    for work in (summary, title):
        reads = [q["sql"] for q in work.captured_queries if q["sql"].startswith("SELECT")]
        read_from = [r.split(" FROM ", 1)[1].split()[0] for r in reads]
        # Once each: the conversation (its tenant joined), its messages; a price at most.
        assert sorted(set(read_from)) == sorted(read_from), reads
        assert (
            {'"chat_conversation"', '"chat_message"'}
            <= set(read_from)
            <= {'"chat_conversation"', '"chat_message"', '"billing_modelprice"'}
        ), reads
    conversation.refresh_from_db()
    assert conversation.summary and conversation.summary_message_count == 4 and conversation.title


# -- resolve, escalate, e-mail ------------------------------------------------------------------


async def test_resolve_and_escalate_frames_and_a_request_in_words(
    world: World, fake_llm: FakeOpenAI, celery_worker: CeleryWorker
) -> None:
    """``celery_worker``: the module's worker runs what these tests queue (titles, the escalation
    e-mail); the fixture has it idle again before the tables are flushed."""
    await Tenant.objects.filter(pk=world.acme.pk).aupdate(escalation_email="support@acme.test")
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    conversation_id = ready["conversation_id"]
    await communicator.send_json_to({"type": "escalate", "reason": 7})
    assert (await communicator.receive_json_from())["code"] == "BAD_REQUEST"

    await send_message(communicator, "This is useless, can I talk to a human? [[tokens=2]]")
    frames = await frames_until(communicator, "done")
    assert (
        frames[0] == {"type": "escalated", "notified": True} and frames[-1]["finish_reason"] == "stop"
    )  # and it answers
    await communicator.send_json_to({"type": "resolve"})
    assert await communicator.receive_json_from() == {"type": "resolved"}
    await communicator.send_json_to({"type": "escalate"})
    assert await communicator.receive_json_from() == {"type": "escalated", "notified": True}
    await communicator.disconnect()

    conversation = await Conversation.objects.for_tenant(world.acme.pk).aget(pk=conversation_id)
    assert conversation.resolved and conversation.escalated
    assert conversation.escalation_reason.startswith("asked in the chat: This is useless")
    # Its title is written (and billed) before the test's data goes (by this module's worker, when
    # one runs: a late write would deadlock with the flush).
    assert await sync_to_async(wait_for)(lambda: Conversation.all_tenants.get(pk=conversation_id).title)


async def test_with_the_pii_filter_on_no_copy_of_the_users_text_keeps_what_it_redacts(
    world: World, fake_llm: FakeOpenAI, celery_worker: CeleryWorker
) -> None:
    """The message, the escalation reason (in words or in the frame), the e-mail quoting it and a
    feedback comment all get the redacted text."""
    card, email = "4111 1111 1111 1111", "jane.doe@example.org"
    # No address while chatting (neither the tenant's nor its agents', whom the e-mail reaches
    # while none is online): a worker running this module's other tests sends nothing yet.
    await reconfigure(world.acme, pii_filter=True, escalation_email="")
    await get_user_model().objects.aupdate(email="")
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    await send_message(communicator, f"Talk to a human: my card {card} was charged twice [[tokens=2]]")
    done = (await frames_until(communicator, "done"))[-1]
    await communicator.send_json_to(
        {"type": "feedback", "message_id": done["message_id"], "rating": 2, "comment": f"mail {email}"}
    )
    assert (await communicator.receive_json_from())["type"] == "rated"
    await communicator.send_json_to({"type": "escalate", "reason": f"call me back at {email}"})
    assert await communicator.receive_json_from() == {"type": "escalated", "notified": False}
    await communicator.disconnect()

    conversation = await Conversation.objects.for_tenant(world.acme.pk).aget(pk=ready["conversation_id"])
    assert (
        conversation.escalation_reason
        == "asked in the chat: Talk to a human: my card [CARD] was charged twice [[tokens=2]]"
    )
    stored = [m async for m in Message.objects.for_tenant(world.acme.pk).filter(conversation=conversation)]
    assert [m.feedback_comment for m in stored if m.role == "assistant"] == ["mail [EMAIL]"]
    assert all(card not in m.content for m in stored)
    await reconfigure(world.acme, escalation_email="support@acme.test")
    assert await sync_to_async(send_escalation_email.apply)(args=(world.acme.pk, conversation.pk))
    (sent,) = mail.outbox
    assert "[CARD]" in sent.body and card not in sent.body and email not in sent.body


async def test_asking_for_a_human_before_any_message_keeps_the_conversation(
    world: World, fake_llm: FakeOpenAI, celery_worker: CeleryWorker
) -> None:
    """A bare conversation has no row (chat.history.pending), but one escalated gets it: a human
    must see it. Resolving a conversation with nothing in it changes nothing."""
    communicator, ready = await open_chat(world.token(world.bob, world.acme))
    await communicator.send_json_to({"type": "resolve"})
    assert await communicator.receive_json_from() == {"type": "resolved"}
    assert not await Conversation.all_tenants.filter(pk=ready["conversation_id"]).aexists()
    await communicator.send_json_to({"type": "escalate", "reason": "call me"})
    assert await communicator.receive_json_from() == {"type": "escalated", "notified": False}
    await communicator.disconnect()
    conversation = await Conversation.objects.for_tenant(world.acme.pk).aget(pk=ready["conversation_id"])
    assert conversation.escalated and conversation.user_id == world.bob.pk and not conversation.resolved


def test_new_tenants_have_the_pii_filter_on() -> None:
    assert Tenant().pii_filter is True


def test_the_escalation_email_carries_the_transcript_and_a_link_once(world: World) -> None:
    """The task run here, through Celery's tracer, with Django's locmem e-mail backend."""
    world.acme.escalation_email = "support@acme.test"
    world.acme.save()
    conversation = Conversation.objects.create(
        tenant=world.acme, user=world.alice, escalated=True, escalation_reason="wants a refund"
    )
    for role, content in [("user", "Refund me now."), ("assistant", "I can help with that.")]:
        Message.objects.create(tenant=world.acme, conversation=conversation, role=role, content=content)
    assert send_escalation_email.apply(args=(world.acme.pk, conversation.pk)).get() is True
    assert send_escalation_email.apply(args=(world.acme.pk, conversation.pk)).get() is False  # once
    (email,) = mail.outbox
    # The escalation address, and the tenant's agents (its owner, here) while none is online.
    assert email.to == ["alice@example.com", "support@acme.test"] and f"#{conversation.pk}" in email.subject
    assert "user: Refund me now.\nassistant: I can help with that." in email.body
    assert "Reason: wants a refund" in email.body
    assert f"/inbox/?conversation={conversation.pk}" in email.body
    # Another tenant's id never reaches this conversation.
    assert send_escalation_email.apply(args=(world.globex.pk, conversation.pk)).get() is False


async def test_the_worker_sends_the_escalation_email_with_the_transcript(
    world: World, fake_llm: FakeOpenAI, celery_worker: CeleryWorker
) -> None:
    await Tenant.objects.filter(pk=world.acme.pk).aupdate(escalation_email="help@acme.test")
    communicator, ready = await open_chat(world.token(world.bob, world.acme))
    await ask(communicator, "My invoice is wrong. [[tokens=2]]")
    await communicator.send_json_to({"type": "escalate", "reason": "billing error"})
    assert await communicator.receive_json_from() == {"type": "escalated", "notified": True}
    await communicator.disconnect()

    body = await sync_to_async(wait_for)(lambda: celery_worker.mail_about(f"#{ready['conversation_id']}"))
    assert "help@acme.test" in body.split("To: ")[1].splitlines()[0] and "Reason: billing error" in body
    assert "user: My invoice is wrong. [[tokens=2]]" in body and "assistant: tok0 tok1" in body
    assert f"https://chat.example.com/inbox/?conversation={ready['conversation_id']}" in body


# -- retention ----------------------------------------------------------------------------------


def test_the_worker_purges_messages_past_the_tenants_retention(
    world: World, celery_worker: CeleryWorker
) -> None:
    world.acme.retention_days = 30
    world.acme.save()
    old, recent, other, deleted = [
        Conversation.objects.create(tenant=tenant, user=user)
        for tenant, user in [
            (world.acme, world.alice),
            (world.acme, world.bob),
            (world.globex, world.carol),
            (world.acme, world.alice),
        ]
    ]
    Conversation.objects.for_tenant(world.acme.pk).filter(pk=deleted.pk).update(deleted_at=timezone.now())
    for conversation in (old, recent, other, deleted):
        Message.objects.create(
            tenant_id=conversation.tenant_id, conversation=conversation, role="user", content="hi"
        )
    long_ago = timezone.now() - timedelta(days=45)
    Message.all_tenants.filter(conversation__in=[old, other, deleted]).update(created_at=long_ago)

    purge_expired_history.delay()
    assert wait_for(lambda: not Message.all_tenants.filter(conversation=old).exists())
    assert Message.all_tenants.filter(conversation=recent).exists()
    assert Message.all_tenants.filter(conversation=other).exists()  # globex keeps everything
    # A conversation its user deleted is kept until its messages are purged, then goes too; one
    # not deleted stays listed, even empty.
    assert wait_for(lambda: not Conversation.all_tenants.filter(pk=deleted.pk).exists())
    assert Conversation.all_tenants.filter(pk=old.pk).exists()
