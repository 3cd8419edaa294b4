"""Regenerate and edit replace the last turn in place (``message.replaces``, docs/protocol.md
"Versions"): the replaced question and answer leave the model's context at once, in the upstream
request of the replacing turn and of every later one, and stay in the history as versions. Over
the WebSocket, real Redis and PostgreSQL, against the fake OpenAI server."""

import asyncio
import json
import uuid
from decimal import Decimal
from typing import Any

from billing.pricing import Price
from chat.gateway.llm import ChatRequest
from chat.models import Message, Role
from chat.turn import PreparedTurn, turn_dump, turn_load
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, client_for
from testkit.ws import ask, frames_until, open_chat


async def replace(communicator: Any, content: str, replaces: Any, *, regenerate: bool = False) -> list[dict]:
    frame = {"type": "message", "content": content, "client_id": str(uuid.uuid4()), "replaces": replaces}
    if regenerate:
        frame["regenerate"] = True
    await communicator.send_to(text_data=json.dumps(frame))
    return await frames_until(communicator, "done", "error")


def said(call: Any) -> list[tuple[str, str]]:
    """What the upstream request held, the system prompt left out."""
    return [(m["role"], m["content"]) for m in call.messages if m["role"] != "system"]


async def test_regenerate_and_edit_replace_the_turn_and_its_versions_leave_the_context(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    conversation_id = ready["conversation_id"]
    first = (await ask(communicator, "Capital of France? [[tokens=3]]"))[-1]
    again = (
        await replace(communicator, "Capital of France? [[tokens=3]]", first["message_id"], regenerate=True)
    )[-1]
    assert again["type"] == "done", again
    edited = (await replace(communicator, "Capital of Spain? [[tokens=3]]", again["message_id"]))[-1]
    assert edited["type"] == "done", edited
    await ask(communicator, "And its population? [[tokens=3]]")
    await communicator.disconnect()

    # Each replacing request held nothing of the turn it replaced; the next one only the current
    # version (from working memory, emptied by the replacement and refilled from PostgreSQL).
    calls = fake_llm.calls
    assert said(calls[1]) == [("user", "Capital of France? [[tokens=3]]")]
    assert said(calls[2]) == [("user", "Capital of Spain? [[tokens=3]]")]
    spain_answer = (await Message.objects.for_tenant(world.acme.pk).aget(pk=edited["message_id"])).content
    assert said(calls[3]) == [
        ("user", "Capital of Spain? [[tokens=3]]"),
        ("assistant", spain_answer),
        ("user", "And its population? [[tokens=3]]"),
    ]

    # The REST messages: the current versions, as before; with ?versions=true the earlier ones,
    # each pointing at the question of the turn that replaced it.
    owner = client_for(world.token(world.alice, world.acme))
    url = f"/api/v1/conversations/{conversation_id}/messages/"
    current = (await asyncio.to_thread(owner.get, url)).json()["results"]
    assert [m["content"][:17] for m in current if m["role"] == "user"] == [
        "Capital of Spain?",
        "And its populatio",
    ]
    assert {m["replaced_by"] for m in current} == {None}
    every = (await asyncio.to_thread(owner.get, f"{url}?versions=true")).json()["results"]
    questions = [m for m in every if m["role"] == Role.USER]
    france, france_again, spain = questions[:3]
    assert [m["id"] for m in every if m["replaced_by"] == france_again["id"]] == [
        france["id"],
        first["message_id"],
    ]
    assert [m["id"] for m in every if m["replaced_by"] == spain["id"]] == [
        france_again["id"],
        again["message_id"],
    ]
    assert (await asyncio.to_thread(owner.get, f"{url}?versions=maybe")).status_code == 400
    export = f"/api/v1/conversations/{conversation_id}/export/?format=json"
    body = await asyncio.to_thread(lambda: b"".join(owner.get(export).streaming_content))
    replaced = {row["message_id"]: row["replaced_by"] for row in json.loads(body)}
    assert replaced[first["message_id"]] == france_again["id"] and replaced[edited["message_id"]] == ""


async def test_only_the_last_answer_of_ones_own_conversation_is_replaced(
    world: World, fake_llm: FakeOpenAI
) -> None:
    communicator, _ = await open_chat(world.token(world.alice, world.acme))
    first = (await ask(communicator, "One [[tokens=2]]"))[-1]
    second = (await ask(communicator, "Two [[tokens=2]]"))[-1]
    others, _ = await open_chat(world.token(world.bob, world.acme))
    bobs = (await ask(others, "Bob's [[tokens=2]]"))[-1]
    await others.disconnect()
    strangers, _ = await open_chat(world.token(world.carol, world.globex))
    globex = (await ask(strangers, "Carol's [[tokens=2]]"))[-1]
    await strangers.disconnect()
    calls = len(fake_llm.calls)

    refused = {
        "an earlier answer": (first["message_id"], "BAD_REQUEST"),
        "a question": (second["message_id"] - 1, "NOT_FOUND"),
        "another user's answer": (bobs["message_id"], "NOT_FOUND"),
        "another tenant's answer": (globex["message_id"], "NOT_FOUND"),
        "no such id": (987654321, "NOT_FOUND"),
        "a string": ("7", "BAD_REQUEST"),
        "too big an id": (2**63, "BAD_REQUEST"),
        "zero": (0, "BAD_REQUEST"),
        "a list": ([second["message_id"]], "BAD_REQUEST"),
    }
    for case, (replaces, code) in refused.items():
        error = (await replace(communicator, "Again", replaces))[-1]
        assert (error["type"], error["code"]) == ("error", code), (case, error)
    assert len(fake_llm.calls) == calls  # nothing refused reached the model
    # The socket stayed open, and the last answer is still the one to replace.
    done = (await replace(communicator, "Two, again [[tokens=2]]", second["message_id"]))[-1]
    assert done["type"] == "done", done
    await communicator.disconnect()
    assert await Message.objects.for_tenant(world.acme.pk).filter(replaced_by__isnull=False).acount() == 2


def test_a_replacing_turn_keeps_what_it_replaces_through_the_outbox_and_the_reaper() -> None:
    """Both write a turn as JSON (``chat.turn``'s codec): a replacing one stays replacing."""
    turn = PreparedTurn(
        tenant_id=1,
        tenant_slug="acme",
        user_id=2,
        conversation_id=3,
        user_message_id=8,
        answer_message_id=9,
        client_id=uuid.uuid4(),
        content="Capital of Spain?",
        request=ChatRequest(model="gpt-4o", messages=[], max_tokens=100, temperature=0.2, end_user="t1-u2"),
        price=Price(Decimal("2.5"), Decimal("10"), None),
        replaces=6,
    )
    assert turn_load(json.loads(json.dumps(turn_dump(turn)))) == turn
    assert turn_load({**turn_dump(turn), "replaces": None}).replaces is None
