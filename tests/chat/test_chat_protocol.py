"""Protocol v1 end to end through the ASGI app, on Postgres, Redis and the fake OpenAI server."""

import asyncio
import json
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async

from billing.models import UsageRecord
from chat.models import Conversation, Message
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, reconfigure
from testkit.ws import TIMEOUT, ask, connect, frames_until, open_chat, send_message, streamed_text


@database_sync_to_async
def messages_of(conversation_id: int) -> list[Message]:
    return list(Message.all_tenants.filter(conversation_id=conversation_id).order_by("id"))


@database_sync_to_async
def usage_of(message_id: int) -> UsageRecord:
    return UsageRecord.all_tenants.get(message_id=message_id)


async def test_ready_carries_the_conversation_and_the_tenants_greeting(
    world: World, fake_llm: FakeOpenAI
) -> None:
    """The conversation's id is valid from ``ready`` on (a reconnect to it works), but its row is
    written with its first message: a bare connection leaves nothing behind."""
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    assert ready["greeting"] == "Welcome to Acme support!"
    assert ready["resumable"] == []
    conversation_id = ready["conversation_id"]
    assert not await Conversation.all_tenants.filter(pk=conversation_id).aexists()
    await communicator.disconnect()
    again, ready_again = await open_chat(world.token(world.alice, world.acme), f"/ws/chat/{conversation_id}/")
    assert ready_again["conversation_id"] == conversation_id
    intruder, connected, _ = await connect(
        f"/ws/chat/{conversation_id}/", token=world.token(world.bob, world.acme)
    )
    assert connected and (await intruder.receive_json_from(TIMEOUT))["code"] == "NOT_FOUND"  # not bob's
    await ask(again, "hello [[tokens=2]]")
    conversation = await Conversation.all_tenants.aget(pk=conversation_id)
    assert (conversation.tenant_id, conversation.user_id, conversation.message_count) == (
        world.acme.pk,
        world.alice.pk,
        2,
    )
    await again.disconnect()


async def test_a_message_streams_typing_tokens_and_done_then_is_stored(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    frames = await ask(communicator, "How do I reset my password? [[tokens=30]]")

    assert frames[0] == {"type": "typing", "active": True}
    tokens = [f for f in frames if f["type"] == "token"]
    assert [f["seq"] for f in tokens] == list(range(1, len(tokens) + 1))
    assert streamed_text(frames) == "".join(f"tok{i} " for i in range(30))
    done = frames[-1]
    assert {f["message_id"] for f in tokens} == {done["message_id"]}
    assert frames[-2] == {"type": "typing", "active": False}
    assert done["finish_reason"] == "stop"
    assert done["model"] == "gpt-4o-mini"
    call = fake_llm.calls[-1]
    assert call.body["stream_options"] == {"include_usage": True}
    assert call.body["max_tokens"] == 1024
    assert call.messages[0] == {"role": "system", "content": "You are Acme's assistant."}
    assert done["usage"]["output_tokens"] == 30
    assert done["usage"]["estimated"] is False
    # gpt-4o-mini: $0.15 in / $0.60 out per 1M tokens.
    expected = (Decimal(done["usage"]["input_tokens"]) * Decimal("0.15") + 30 * Decimal("0.60")) / 1_000_000
    assert Decimal(done["cost_usd"]) == expected.quantize(Decimal("0.00000001"))

    question, answer = await messages_of(ready["conversation_id"])
    assert (question.role, answer.role) == ("user", "assistant")
    assert answer.pk == done["message_id"] and answer.reply_to_id == question.pk
    assert answer.content == streamed_text(frames)
    assert (
        answer.finish_reason == "stop" and answer.ttft_ms is not None and answer.latency_ms >= answer.ttft_ms
    )
    usage = await usage_of(answer.pk)
    assert (usage.tenant_id, usage.user_id, usage.output_tokens) == (world.acme.pk, world.alice.pk, 30)
    assert usage.cost_usd == Decimal(done["cost_usd"])
    await communicator.disconnect()


async def test_tokens_are_coalesced_into_fewer_frames(world: World, fake_llm: FakeOpenAI) -> None:
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    # 100 tokens 5 ms apart: ~500 ms of streaming in frames at most every 40 ms.
    frames = await ask(communicator, "[[tokens=100]] [[delay=0.005]]")
    tokens = [f for f in frames if f["type"] == "token"]
    assert 3 <= len(tokens) <= 30
    assert tokens[0]["content"] == "tok0 "  # the first token is never held back
    await communicator.disconnect()


async def test_the_context_carries_the_conversations_earlier_turns(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    await ask(communicator, "first question")
    await communicator.disconnect()
    communicator, again = await open_chat(
        world.token(world.alice, world.acme), f"/ws/chat/{ready['conversation_id']}/"
    )
    assert again["conversation_id"] == ready["conversation_id"]
    await ask(communicator, "second question")
    roles = [(m["role"], m["content"]) for m in fake_llm.calls[-1].messages]
    assert roles[1] == ("user", "first question")
    assert roles[2][0] == "assistant" and roles[2][1].startswith("tok0")
    assert roles[3] == ("user", "second question")
    await communicator.disconnect()


async def test_cancel_closes_the_upstream_stream_and_records_what_was_generated(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    await send_message(communicator, "[[tokens=500]] [[delay=0.02]]")
    first = await frames_until(communicator, "token")
    await communicator.send_json_to({"type": "cancel"})
    frames = first + await frames_until(communicator, "done")
    done = frames[-1]
    assert done["finish_reason"] == "cancelled"
    call = fake_llm.calls[-1]
    assert await asyncio.to_thread(call.closed.wait, 5), "the upstream stream was not closed"
    assert call.tokens_sent < 500
    assert done["usage"]["estimated"] is True
    assert done["usage"]["output_tokens"] > 0 and done["usage"]["input_tokens"] > 0

    _, answer = await messages_of(ready["conversation_id"])
    assert answer.finish_reason == "cancelled" and answer.tokens_estimated
    assert answer.content == streamed_text(frames)
    usage = await usage_of(answer.pk)
    assert usage.estimated and usage.output_tokens == done["usage"]["output_tokens"]
    # The connection goes on after a cancel.
    frames = await ask(communicator, "again [[tokens=3]]")
    assert frames[-1]["finish_reason"] == "stop"
    await communicator.disconnect()


async def test_a_cancel_before_the_stream_starts_never_calls_upstream(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    await send_message(communicator, "never mind [[tokens=50]]")
    await communicator.send_json_to({"type": "cancel"})
    done = (await frames_until(communicator, "done"))[-1]
    assert done["finish_reason"] == "cancelled"
    assert done["usage"]["input_tokens"] == done["usage"]["output_tokens"] == 0
    assert fake_llm.calls == []
    _, answer = await messages_of(ready["conversation_id"])
    assert answer.finish_reason == "cancelled" and (await usage_of(answer.pk)).cost_usd == 0
    await communicator.disconnect()


async def stored_messages(conversation_id: int, count: int = 2) -> list[Message]:
    """The conversation's messages once ``count`` are stored (answers are written when they end)."""
    deadline = asyncio.get_running_loop().time() + 30
    while len(found := await messages_of(conversation_id)) < count:
        assert asyncio.get_running_loop().time() < deadline, "the turn was never stored"
        await asyncio.sleep(0.05)
    return found


async def test_a_disconnect_mid_stream_does_not_stop_the_answer(world: World, fake_llm: FakeOpenAI) -> None:
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    await send_message(communicator, "[[tokens=40]] [[delay=0.02]]")
    await frames_until(communicator, "token")
    await communicator.disconnect()
    _, answer = await stored_messages(ready["conversation_id"])
    assert answer.finish_reason == "stop"
    assert answer.content == "".join(f"tok{i} " for i in range(40))
    assert (await usage_of(answer.pk)).output_tokens == 40
    assert len(fake_llm.calls) == 1


async def test_an_answer_nobody_follows_is_cancelled_after_the_orphan_grace(
    world: World, fake_llm: FakeOpenAI
) -> None:
    await reconfigure(world.acme, orphan_grace_seconds=1)
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    await send_message(communicator, "[[tokens=2000]] [[delay=0.01]]")
    await frames_until(communicator, "token")
    await communicator.disconnect()
    assert await asyncio.to_thread(fake_llm.calls[-1].closed.wait, 30), "the upstream stream was not closed"
    _, answer = await stored_messages(ready["conversation_id"])
    assert answer.finish_reason == "cancelled"
    assert 0 < (await usage_of(answer.pk)).output_tokens < 2000
    assert fake_llm.calls[-1].tokens_sent < 2000


async def test_an_upstream_failure_before_the_stream_is_an_error_answer(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    frames = await ask(communicator, "[[fail-before]]")
    assert frames[-1]["finish_reason"] == "error"
    assert frames[-1]["usage"]["output_tokens"] == 0
    error = await communicator.receive_json_from(TIMEOUT)
    assert error["type"] == "error" and error["code"] == "UPSTREAM_ERROR"
    _, answer = await messages_of(ready["conversation_id"])
    assert answer.finish_reason == "error" and answer.content == ""
    # Still open and usable.
    assert (await ask(communicator, "ok now [[tokens=2]]"))[-1]["finish_reason"] == "stop"
    await communicator.disconnect()


async def test_an_upstream_failure_mid_stream_keeps_what_was_streamed(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    frames = await ask(communicator, "[[fail-mid]] [[tokens=10]]")
    assert frames[-1]["finish_reason"] == "error"
    assert streamed_text(frames) == "tok0 tok1 tok2 "
    assert (await communicator.receive_json_from(TIMEOUT))["code"] == "UPSTREAM_ERROR"
    _, answer = await messages_of(ready["conversation_id"])
    assert answer.content == "tok0 tok1 tok2 " and answer.finish_reason == "error"
    assert (await usage_of(answer.pk)).estimated
    await communicator.disconnect()


async def test_a_replayed_client_id_gets_the_stored_answer_without_a_new_call(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    client_id = await send_message(communicator, "idempotent please [[tokens=5]]")
    original = await frames_until(communicator, "done")
    await communicator.disconnect()
    calls = len(fake_llm.calls)

    communicator, _ = await open_chat(
        world.token(world.alice, world.acme), f"/ws/chat/{ready['conversation_id']}/"
    )
    await send_message(communicator, "idempotent please [[tokens=5]]", client_id)
    response, done = await frames_until(communicator, "done")
    assert len(fake_llm.calls) == calls
    assert response["type"] == "response" and response["replayed"] is True
    assert response["message_id"] == original[-1]["message_id"]
    assert response["content"] == streamed_text(original)
    assert done["usage"] == original[-1]["usage"] and done["cost_usd"] == original[-1]["cost_usd"]
    assert len(await messages_of(ready["conversation_id"])) == 2
    await communicator.disconnect()


async def test_another_users_client_id_is_refused(world: World, fake_llm: FakeOpenAI) -> None:
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    client_id = await send_message(communicator, "mine [[tokens=2]]")
    await frames_until(communicator, "done")
    other, _ = await open_chat(world.token(world.bob, world.acme))
    await send_message(other, "mine too", client_id)
    error = await other.receive_json_from(TIMEOUT)
    assert error["code"] == "BAD_REQUEST"
    await communicator.disconnect()
    await other.disconnect()


@pytest.mark.parametrize(
    "raw, message",
    [
        ("not json", "valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"content": "x"}', "'type'"),
        ('{"type": "shout"}', "unknown frame type"),
        ('{"type": "message", "client_id": "6f1c1b2e-4f0e-4a8e-9d4a-2b8f7d9c1a00"}', "'content'"),
        ('{"type": "message", "content": "  "}', "'content'"),
        ('{"type": "message", "content": "hi"}', "'client_id'"),
        ('{"type": "message", "content": "hi", "client_id": "nope"}', "'client_id'"),
        (
            '{"type": "message", "content": 5, "client_id": "6f1c1b2e-4f0e-4a8e-9d4a-2b8f7d9c1a00"}',
            "'content'",
        ),
        ('{"type": "feedback", "message_id": "1", "rating": 5}', "'message_id'"),
        ('{"type": "feedback", "message_id": 1, "rating": 9}', "'rating'"),
        ('{"type": "resume", "message_id": 1}', "'after'"),
    ],
)
async def test_bad_frames_get_bad_request_and_the_connection_stays_open(
    world: World, fake_llm: FakeOpenAI, raw: str, message: str
) -> None:
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    await communicator.send_to(text_data=raw)
    error = await communicator.receive_json_from(TIMEOUT)
    assert error["type"] == "error" and error["code"] == "BAD_REQUEST"
    assert message in error["message"]
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(TIMEOUT) == {"type": "pong"}
    await communicator.disconnect()


async def test_oversized_frames_binary_frames_and_overlong_content_are_refused(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    big = json.dumps(
        {"type": "message", "content": "x" * (33 * 1024), "client_id": "6f1c1b2e-4f0e-4a8e-9d4a-2b8f7d9c1a00"}
    )
    await communicator.send_to(text_data=big)
    assert "larger than 32768 bytes" in (await communicator.receive_json_from(TIMEOUT))["message"]
    await communicator.send_to(bytes_data=b'{"type": "ping"}')
    assert (await communicator.receive_json_from(TIMEOUT))["code"] == "BAD_REQUEST"
    await send_message(communicator, "y" * 8001)
    assert "longer than 8000" in (await communicator.receive_json_from(TIMEOUT))["message"]
    assert len(fake_llm.calls) == 0
    await communicator.disconnect()


async def test_a_second_message_while_streaming_is_refused_and_cancel_needs_a_stream(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    await communicator.send_json_to({"type": "cancel"})
    assert (await communicator.receive_json_from(TIMEOUT))["code"] == "NOT_FOUND"
    await send_message(communicator, "[[tokens=200]] [[delay=0.01]]")
    await frames_until(communicator, "token")
    await send_message(communicator, "me too")
    frames = await frames_until(communicator, "error")
    assert frames[-1]["code"] == "BAD_REQUEST"
    await communicator.send_json_to({"type": "cancel"})
    await frames_until(communicator, "done")
    await communicator.disconnect()


async def test_feedback_rates_an_answer_of_ones_own_conversation_only(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    done = (await ask(communicator, "rate me [[tokens=2]]"))[-1]
    await communicator.send_json_to(
        {"type": "feedback", "message_id": done["message_id"], "rating": 4, "comment": "good"}
    )
    rated = {"type": "rated", "message_id": done["message_id"], "rating": 4}
    assert await communicator.receive_json_from(TIMEOUT) == rated
    conversation = await database_sync_to_async(Conversation.all_tenants.get)(pk=ready["conversation_id"])
    assert conversation.rating == 4

    intruder, _ = await open_chat(world.token(world.carol, world.globex))
    await intruder.send_json_to({"type": "feedback", "message_id": done["message_id"], "rating": 1})
    assert (await intruder.receive_json_from(TIMEOUT))["code"] == "NOT_FOUND"
    await communicator.disconnect()
    await intruder.disconnect()


async def test_resume_of_an_unknown_generation_is_not_found(world: World, fake_llm: FakeOpenAI) -> None:
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    await communicator.send_json_to({"type": "resume", "message_id": 123456, "after": 0})
    assert (await communicator.receive_json_from(TIMEOUT))["code"] == "NOT_FOUND"
    await communicator.disconnect()
