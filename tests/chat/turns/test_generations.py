"""Answers that outlive their socket, in one instance (the ASGI app, Postgres, Redis, the fake
OpenAI server): one generation per client_id, resume, cancel from another socket, ownership.
Across instances and crashes: ``tests/live/test_live_generations.py``."""

import asyncio
import json
import uuid
from typing import Any

from channels.testing import WebsocketCommunicator

from billing.models import UsageRecord
from chat.models import Message
from infra.db import in_db_thread
from testkit.fake_openai import FakeOpenAI
from testkit.world import World
from testkit.ws import TIMEOUT, frames_until, open_chat, send_message, streamed_text


@in_db_thread
def rows_for(conversation_id: int) -> tuple[list[Message], int]:
    messages = list(Message.all_tenants.filter(conversation_id=conversation_id).order_by("id"))
    usage = UsageRecord.all_tenants.filter(conversation_id=conversation_id).count()
    return messages, usage


def tokens_in_order(frames: list[dict[str, Any]]) -> list[int]:
    return [f["seq"] for f in frames if f["type"] == "token"]


async def test_the_same_client_id_on_two_sockets_at_once_makes_one_upstream_call(
    world: World, fake_llm: FakeOpenAI
) -> None:
    token = world.token(world.alice, world.acme)
    first, ready = await open_chat(token)
    others = [(await open_chat(token, f"/ws/chat/{ready['conversation_id']}/"))[0] for _ in range(4)]
    client_id = str(uuid.uuid4())
    await asyncio.gather(
        *(send_message(ws, "once only [[tokens=30]] [[delay=0.01]]", client_id) for ws in [first, *others])
    )
    one, *rest = await asyncio.gather(*(frames_until(ws, "done") for ws in [first, *others]))
    assert len(fake_llm.calls) == 1
    assert one[-1]["finish_reason"] == "stop"
    expected = "".join(f"tok{i} " for i in range(30))
    for frames in (one, *rest):
        assert frames[-1] == one[-1] and streamed_text(frames) == expected
        seqs = tokens_in_order(frames)
        assert seqs == list(range(1, len(seqs) + 1))
    messages, usage = await rows_for(ready["conversation_id"])
    assert len(messages) == 2 and usage == 1
    # And once more after the end: the stored answer, still no second call.
    await send_message(first, "once only [[tokens=30]] [[delay=0.01]]", client_id)
    response, done = await frames_until(first, "done")
    assert response["replayed"] is True and response["content"] == expected and done == one[-1]
    assert len(fake_llm.calls) == 1
    for ws in (first, *others):
        await ws.disconnect()


async def test_a_replay_mid_stream_on_the_same_socket_restarts_the_frames_without_a_second_call(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    client_id = await send_message(communicator, "[[tokens=40]] [[delay=0.01]]")
    await frames_until(communicator, "token")
    await send_message(communicator, "[[tokens=40]] [[delay=0.01]]", client_id)
    frames = await frames_until(communicator, "done")
    assert len(fake_llm.calls) == 1
    seqs = tokens_in_order(frames)
    restart = seqs.index(1)  # the replay starts from the first frame again
    assert seqs[restart:] == list(range(1, len(seqs) - restart + 1))
    assert streamed_text(frames[frames.index({"type": "typing", "active": True}, 0) :]).endswith("tok39 ")
    await communicator.disconnect()


async def test_reconnect_lists_the_generation_and_resume_sends_the_rest_once(
    world: World, fake_llm: FakeOpenAI
) -> None:
    token = world.token(world.alice, world.acme)
    communicator, ready = await open_chat(token)
    await send_message(communicator, "long one [[tokens=60]] [[delay=0.02]]")
    seen = await frames_until(communicator, "token")
    seen += [await communicator.receive_json_from(TIMEOUT)]
    await communicator.disconnect()
    seen_tokens = [f for f in seen if f["type"] == "token"]
    after = seen_tokens[-1]["seq"]

    again, ready_again = await open_chat(token, f"/ws/chat/{ready['conversation_id']}/")
    (listed,) = ready_again["resumable"]
    message_id = seen_tokens[0]["message_id"]
    assert listed["message_id"] == message_id and listed["last_seq"] >= after
    await again.send_json_to({"type": "resume", "message_id": message_id, "after": after})
    rest = await frames_until(again, "done")
    seqs = [f["seq"] for f in seen_tokens] + tokens_in_order(rest)
    assert seqs == list(range(1, len(seqs) + 1)), "a frame is missing or repeated"
    text = streamed_text(seen_tokens) + streamed_text(rest)
    messages, _ = await rows_for(ready["conversation_id"])
    assert messages[-1].content == text == "".join(f"tok{i} " for i in range(60))
    assert len(fake_llm.calls) == 1
    await again.disconnect()


async def test_cancel_from_another_socket_of_the_same_user_stops_the_answer(
    world: World, fake_llm: FakeOpenAI
) -> None:
    token = world.token(world.alice, world.acme)
    streaming, _ = await open_chat(token)
    await send_message(streaming, "[[tokens=2000]] [[delay=0.01]]")
    message_id = (await frames_until(streaming, "token"))[-1]["message_id"]
    elsewhere, _ = await open_chat(token)
    await elsewhere.send_json_to({"type": "cancel", "message_id": message_id})
    done = (await frames_until(streaming, "done"))[-1]
    assert done["finish_reason"] == "cancelled"
    assert await asyncio.to_thread(fake_llm.calls[-1].closed.wait, 10)
    await elsewhere.send_json_to({"type": "cancel", "message_id": message_id})  # already over
    assert (await elsewhere.receive_json_from(TIMEOUT))["code"] == "NOT_FOUND"
    await streaming.disconnect()
    await elsewhere.disconnect()


async def intruder_gets_not_found(intruder: WebsocketCommunicator, frame: dict[str, Any]) -> None:
    await intruder.send_to(text_data=json.dumps(frame))
    reply = await intruder.receive_json_from(TIMEOUT)
    assert reply["type"] == "error" and reply["code"] == "NOT_FOUND", reply


async def test_another_users_or_tenants_generation_is_not_found_for_resume_and_cancel(
    world: World, fake_llm: FakeOpenAI
) -> None:
    owner, _ = await open_chat(world.token(world.alice, world.acme))
    await send_message(owner, "[[tokens=300]] [[delay=0.01]]")
    message_id = (await frames_until(owner, "token"))[-1]["message_id"]
    for user, tenant in [(world.bob, world.acme), (world.carol, world.globex)]:
        intruder, _ = await open_chat(world.token(user, tenant))
        await intruder_gets_not_found(intruder, {"type": "resume", "message_id": message_id, "after": 0})
        await intruder_gets_not_found(intruder, {"type": "cancel", "message_id": message_id})
        await intruder_gets_not_found(intruder, {"type": "resume", "message_id": 987654321, "after": 0})
        await intruder.disconnect()
    done = (await frames_until(owner, "done"))[-1]
    assert done["finish_reason"] == "stop"  # nobody else could stop it
    await owner.disconnect()


async def test_another_tenants_client_id_is_a_different_claim(world: World, fake_llm: FakeOpenAI) -> None:
    acme, _ = await open_chat(world.token(world.alice, world.acme))
    globex, _ = await open_chat(world.token(world.carol, world.globex))
    client_id = await send_message(acme, "mine [[tokens=3]]")
    await send_message(globex, "theirs [[tokens=3]]", client_id)
    mine, theirs = await asyncio.gather(frames_until(acme, "done"), frames_until(globex, "done"))
    assert mine[-1]["message_id"] != theirs[-1]["message_id"] and len(fake_llm.calls) == 2
    await acme.disconnect()
    await globex.disconnect()


async def test_cancels_at_any_moment_leave_the_socket_and_the_store_in_agreement(
    world: World, fake_llm: FakeOpenAI
) -> None:
    """Each cancel lands somewhere else in the stream (between tokens, mid-frame, in a timed
    flush): whatever the socket got is exactly what was stored, with no seq missing."""
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    for attempt in range(12):
        await send_message(communicator, f"attempt {attempt} [[tokens=400]] [[delay=0.003]]")
        frames = await frames_until(communicator, "token")
        await asyncio.sleep(0.011 * attempt)
        await communicator.send_json_to({"type": "cancel"})
        frames += await frames_until(communicator, "done")
        seqs = tokens_in_order(frames)
        assert seqs == list(range(1, len(seqs) + 1))
        answer = await in_db_thread(Message.all_tenants.get)(pk=frames[-1]["message_id"])
        assert answer.content == streamed_text(frames), attempt
    await communicator.disconnect()
