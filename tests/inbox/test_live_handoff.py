"""Talking live (issue 33, 4): once an agent takes a conversation the assistant is silent (the
user's messages are stored for the agent, the fake upstream gets no call, a replayed client_id is
not stored twice), the agent's reply reaches the user's socket and the history, and handed back
the assistant answers again with the agent's replies in its context. Only the holder replies."""

import uuid
from typing import Any

from channels.db import database_sync_to_async

from chat.models import Conversation, Message
from tenants.models import Membership, Role
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, client_for, make_user
from testkit.ws import TIMEOUT, ask, frames_until, open_chat, send_message


@database_sync_to_async
def agent_of(tenant: Any, name: str) -> Any:
    user = make_user(name)
    Membership.objects.create(tenant=tenant, user=user, role=Role.AGENT)
    return user


def post(token: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return database_sync_to_async(client_for(token).post)(path, body or {}, format="json")


async def test_an_agent_takes_over_the_assistant_is_silent_then_answers_again(
    world: World, fake_llm: FakeOpenAI
) -> None:
    dana, erin = await agent_of(world.acme, "dana"), await agent_of(world.acme, "erin")
    gil = await agent_of(world.globex, "gil")
    bob, ready = await open_chat(world.token(world.bob, world.acme))
    conversation_id = ready["conversation_id"]
    await ask(bob, "my parcel is late [[tokens=2]]")
    await bob.send_json_to({"type": "escalate"})
    await frames_until(bob, "escalated")

    taken = await post(world.token(dana, world.acme), f"/api/v1/inbox/{conversation_id}/take/")
    assert taken.status_code == 204
    assert await bob.receive_json_from(TIMEOUT) == {
        "type": "handoff",
        "conversation_id": conversation_id,
        "state": "human",
        "agent": "dana",
    }

    calls = len(fake_llm.calls)
    client_id = str(uuid.uuid4())
    await send_message(bob, "is anyone there?", client_id)
    held = (await frames_until(bob, "held"))[-1]
    assert held["conversation_id"] == conversation_id
    await send_message(bob, "is anyone there?", client_id)  # a replay after a reconnect
    assert (await frames_until(bob, "held"))[-1]["message_id"] == held["message_id"]
    assert len(fake_llm.calls) == calls  # the assistant made no call
    stored = Message.all_tenants.filter(conversation_id=conversation_id, client_id=client_id)
    assert await stored.acount() == 1

    # Only the holder replies: a colleague is told to take it, another tenant's agent finds nothing.
    assert (
        await post(
            world.token(erin, world.acme), f"/api/v1/inbox/{conversation_id}/reply/", {"content": "hi"}
        )
    ).status_code == 409
    assert (
        await post(
            world.token(gil, world.globex), f"/api/v1/inbox/{conversation_id}/reply/", {"content": "hi"}
        )
    ).status_code == 404
    assert (
        await post(
            world.token(world.bob, world.acme), f"/api/v1/inbox/{conversation_id}/reply/", {"content": "hi"}
        )
    ).status_code == 403
    replied = await post(
        world.token(dana, world.acme),
        f"/api/v1/inbox/{conversation_id}/reply/",
        {"content": "Yes, Dana here. Let me look."},
    )
    assert replied.status_code == 201, replied.json()
    frame = await bob.receive_json_from(TIMEOUT)
    assert frame == {
        "type": "agent_message",
        "conversation_id": conversation_id,
        "message_id": replied.json()["id"],
        "content": "Yes, Dana here. Let me look.",
        "agent": "dana",
    }
    history = await database_sync_to_async(client_for(world.token(world.bob, world.acme)).get)(
        f"/api/v1/conversations/{conversation_id}/messages/"
    )
    roles = [(m["role"], m["author"]) for m in history.json()["results"]]
    assert roles == [("user", None), ("assistant", None), ("user", None), ("agent", "dana")]
    conversation = await Conversation.all_tenants.aget(pk=conversation_id)
    assert conversation.first_human_reply_at is not None and conversation.message_count == 4

    # Handed back: the assistant answers, with the agent's reply in its context as its own.
    back = await post(world.token(dana, world.acme), f"/api/v1/inbox/{conversation_id}/hand-back/")
    assert back.status_code == 204
    assert (await bob.receive_json_from(TIMEOUT))["state"] == "bot"
    done = (await ask(bob, "thanks, and now? [[tokens=2]]"))[-1]
    assert done["type"] == "done" and done["finish_reason"] == "stop"
    context = fake_llm.calls[-1].messages
    assert {"role": "assistant", "content": "Yes, Dana here. Let me look."} in context
    assert {"role": "user", "content": "is anyone there?"} in context
    await bob.disconnect()
