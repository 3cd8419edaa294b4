"""The support team's inbox socket (issue 33): who may open it, presence and round robin, the
counts that move, the user's messages and typing live, typing back to the user, private notes
that never reach the user, reassignment when the assignee does not reply, resolving, and the
first-message escalation's e-mail with its message and a link an agent can open."""

import json
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from chat.models import Conversation, Handoff, Message
from inbox.models import Assignment, Note
from inbox.services import overdue_reassign
from tenants.models import Membership, Role, Tenant
from testkit.fake_openai import FakeOpenAI
from testkit.worker import CeleryWorker, wait_for
from testkit.world import PASSWORD, World, client_for, make_user
from testkit.ws import TIMEOUT, ask, connect, frames_until, open_chat, send_message


@database_sync_to_async
def agent_of(tenant: Any, name: str, role: str = Role.AGENT) -> Any:
    user = make_user(name, first_name=name.capitalize())
    Membership.objects.create(tenant=tenant, user=user, role=role)
    return user


def post(token: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return database_sync_to_async(client_for(token).post)(path, body or {}, format="json")


def get(token: str, path: str) -> Any:
    return database_sync_to_async(client_for(token).get)(path)


async def open_inbox(token: str) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    communicator, connected, _ = await connect("/ws/inbox/", token=token)
    assert connected
    ready = await communicator.receive_json_from(TIMEOUT)
    assert ready["type"] == "inbox_ready", ready
    return communicator, ready


async def next_of(communicator: WebsocketCommunicator, frame_type: str) -> dict[str, Any]:
    """The next frame of ``frame_type`` (others, such as presence, skipped)."""
    return (await frames_until(communicator, frame_type))[-1]


async def test_only_the_support_team_opens_the_inbox_socket(world: World) -> None:
    member, connected, _ = await connect("/ws/inbox/", token=world.token(world.bob, world.acme))
    assert connected
    assert (await member.receive_json_from(TIMEOUT))["code"] == "FORBIDDEN"
    assert (await member.receive_output(TIMEOUT))["code"] == 4403
    _, connected, _ = await connect("/ws/inbox/")
    assert not connected  # no credentials: the handshake is refused

    dana = await agent_of(world.acme, "dana")
    inbox, ready = await open_inbox(world.token(dana, world.acme))
    assert ready["agent"] == "dana" and ready["counts"] == {
        "waiting": 0,
        "unassigned": 0,
        "mine": 0,
        "all": 0,
    }
    assert {"agent": "dana", "name": "Dana", "state": "online"} in ready["agents"]
    assert {"agent": "alice", "name": "alice", "state": "offline"} in ready["agents"]  # the owner
    await inbox.send_json_to({"type": "presence", "away": "yes"})
    assert (await next_of(inbox, "error"))["code"] == "BAD_REQUEST"
    await inbox.send_json_to({"type": "message", "content": "hi"})
    assert (await next_of(inbox, "error"))["code"] == "BAD_REQUEST"
    await inbox.send_json_to({"type": "presence", "away": True})
    while {"agent": "dana", "name": "Dana", "state": "away"} not in (await next_of(inbox, "agents"))[
        "agents"
    ]:
        pass  # the presence of its own connect may come first
    await inbox.disconnect()


async def test_round_robin_live_messages_typing_and_notes(world: World, fake_llm: FakeOpenAI) -> None:
    dana, erin = await agent_of(world.acme, "dana"), await agent_of(world.acme, "erin")
    gil = await agent_of(world.globex, "gil")
    dana_inbox, _ = await open_inbox(world.token(dana, world.acme))
    erin_inbox, _ = await open_inbox(world.token(erin, world.acme))
    gil_inbox, _ = await open_inbox(world.token(gil, world.globex))

    # Two requests for a person: one to each online agent, in turn.
    bob, ready = await open_chat(world.token(world.bob, world.acme))
    alice, alice_ready = await open_chat(world.token(world.alice, world.acme))
    await bob.send_json_to({"type": "escalate", "reason": "parcel late"})
    first = (await frames_until(bob, "handoff"))[-1]
    await alice.send_json_to({"type": "escalate"})
    second = (await frames_until(alice, "handoff"))[-1]
    assert {first["agent"], second["agent"]} == {"Dana", "Erin"}
    holder, holder_inbox, other_inbox = (
        (dana, dana_inbox, erin_inbox) if first["agent"] == "Dana" else (erin, erin_inbox, dana_inbox)
    )
    conversation_id = ready["conversation_id"]
    moved = await next_of(holder_inbox, "inbox")
    assert moved["state"] == "human" and moved["counts"]["all"] >= 1

    # The user's message goes to the agent, live, on the team's sockets only; no upstream call.
    calls = len(fake_llm.calls)
    await send_message(bob, "are you there?")
    held = await next_of(bob, "held")
    shown = await next_of(other_inbox, "user_message")
    assert shown == {
        "type": "user_message",
        "conversation_id": conversation_id,
        "message_id": held["message_id"],
        "content": "are you there?",
    }
    assert len(fake_llm.calls) == calls

    # Typing both ways.
    await bob.send_json_to({"type": "typing", "active": True})
    assert await next_of(holder_inbox, "user_typing") == {
        "type": "user_typing",
        "conversation_id": conversation_id,
        "active": True,
    }
    await bob.send_json_to({"type": "typing", "active": "yes"})
    assert (await next_of(bob, "error"))["code"] == "BAD_REQUEST"
    await holder_inbox.send_json_to({"type": "typing", "conversation_id": conversation_id, "active": True})
    typing = await next_of(bob, "agent_typing")
    assert typing == {
        "type": "agent_typing",
        "conversation_id": conversation_id,
        "active": True,
        "agent": holder.first_name,
    }
    # Not the holder (or another tenant's agent): nothing reaches the user.
    await other_inbox.send_json_to({"type": "typing", "conversation_id": conversation_id, "active": True})
    assert (await next_of(other_inbox, "error"))["code"] == "NOT_FOUND"
    await gil_inbox.send_json_to({"type": "typing", "conversation_id": conversation_id, "active": True})
    assert (await next_of(gil_inbox, "error"))["code"] == "NOT_FOUND"

    # A private note: on the team's sockets, never the user's, never in the user's history.
    noted = await post(
        world.token(holder, world.acme),
        f"/api/v1/inbox/{conversation_id}/notes/",
        {"content": "VIP, refund ok"},
    )
    assert noted.status_code == 201
    note = await next_of(other_inbox, "note")
    assert note["content"] == "VIP, refund ok" and note["agent"] == holder.username
    assert (
        await post(
            world.token(gil, world.globex), f"/api/v1/inbox/{conversation_id}/notes/", {"content": "x"}
        )
    ).status_code == 404
    assert (
        await post(
            world.token(world.bob, world.acme), f"/api/v1/inbox/{conversation_id}/notes/", {"content": "x"}
        )
    ).status_code == 403
    replied = await post(
        world.token(holder, world.acme),
        f"/api/v1/inbox/{conversation_id}/reply/",
        {"content": "Refund sent."},
    )
    assert replied.status_code == 201
    # The user's next frame after the agent's typing is the reply: the note never came.
    assert (await bob.receive_json_from(TIMEOUT))["type"] == "agent_message"
    assert (await next_of(other_inbox, "agent_message"))["content"] == "Refund sent."
    history = await get(
        world.token(world.bob, world.acme), f"/api/v1/conversations/{conversation_id}/messages/"
    )
    assert "VIP" not in history.content.decode()
    assert await Note.objects.for_tenant(world.acme.pk).filter(conversation_id=conversation_id).acount() == 1

    def exported() -> list[dict[str, Any]]:
        owner = client_for(world.token(world.alice, world.acme))
        answer = owner.get(f"/api/v1/conversations/{conversation_id}/export/?format=json")
        return list(json.loads(b"".join(answer.streaming_content)))

    rows = await sync_to_async(exported)()
    assert [(r["role"], r["author"]) for r in rows] == [("user", ""), ("agent", holder.username)]
    assert "VIP" not in json.dumps(rows)  # the note is not in the exports

    # The team's transcript: the messages, the agent's reply and the note, in order.
    transcript = (await get(world.token(holder, world.acme), f"/api/v1/inbox/{conversation_id}/")).json()
    kinds = [(item["kind"], item["role"]) for item in transcript["transcript"]]
    assert kinds == [("message", "user"), ("note", "note"), ("message", "agent")]
    assert transcript["conversation"]["assignee"] == holder.username
    assert (await get(world.token(gil, world.globex), f"/api/v1/inbox/{conversation_id}/")).status_code == 404

    # Resolved by the team: out of the inbox; the user is told, and the bot answers again.
    resolved = await post(world.token(holder, world.acme), f"/api/v1/inbox/{conversation_id}/resolve/")
    assert resolved.status_code == 204
    assert (await next_of(bob, "handoff"))["state"] == "bot"
    assert await bob.receive_json_from(TIMEOUT) == {"type": "resolved"}
    assert (await next_of(other_inbox, "inbox"))["state"] == "resolved"
    done = (await ask(bob, "one more thing [[tokens=2]]"))[-1]
    assert done["finish_reason"] == "stop" and len(fake_llm.calls) == calls + 1
    conversation = await Conversation.all_tenants.aget(pk=conversation_id)
    assert conversation.resolved and conversation.handoff == Handoff.BOT

    # The other tenant's agent heard nothing of all this.
    frames = []
    while not await gil_inbox.receive_nothing(0.2):
        frames.append(await gil_inbox.receive_json_from(TIMEOUT))
    assert all(f["type"] in ("agents", "error") for f in frames), frames
    for communicator in (bob, alice, dana_inbox, erin_inbox, gil_inbox):
        await communicator.disconnect()
    assert alice_ready["conversation_id"] != conversation_id


async def test_an_assignee_who_does_not_reply_in_time_loses_the_conversation(world: World) -> None:
    dana, erin = await agent_of(world.acme, "dana"), await agent_of(world.acme, "erin")
    dana_inbox, _ = await open_inbox(world.token(dana, world.acme))
    bob, ready = await open_chat(world.token(world.bob, world.acme))
    conversation_id = ready["conversation_id"]
    await bob.send_json_to({"type": "escalate"})
    assert (await next_of(bob, "handoff"))["agent"] == "Dana"  # the only one online

    erin_inbox, _ = await open_inbox(world.token(erin, world.acme))
    conversations = Conversation.all_tenants.filter(pk=conversation_id)
    # Dana got it 6 minutes ago (the tenant's default: 5 minutes to reply) and did not reply.
    await conversations.aupdate(assigned_at=timezone.now() - timedelta(minutes=6))
    moved = await sync_to_async(overdue_reassign)(
        tenant_id=world.acme.pk, reply_minutes=5, now=timezone.now()
    )
    assert moved == 1
    assert (await next_of(bob, "handoff"))["agent"] == "Erin"
    conversation = await Conversation.all_tenants.aget(pk=conversation_id)
    assert conversation.assignee_id == erin.pk
    hows = [a.how async for a in Assignment.objects.for_tenant(world.acme.pk).order_by("id")]
    assert hows == ["auto", "reassigned"]

    # Erin leaves too: the next time it is overdue it waits again, for anyone.
    await erin_inbox.disconnect()
    await dana_inbox.disconnect()
    await conversations.aupdate(assigned_at=timezone.now() - timedelta(minutes=6))
    assert (
        await sync_to_async(overdue_reassign)(tenant_id=world.acme.pk, reply_minutes=5, now=timezone.now())
        == 1
    )
    conversation = await Conversation.all_tenants.aget(pk=conversation_id)
    assert conversation.handoff == Handoff.WAITING and conversation.assignee_id is None
    await bob.disconnect()


async def test_the_first_message_escalation_email_has_the_message_and_an_inbox_link(
    world: World, fake_llm: FakeOpenAI, celery_worker: CeleryWorker
) -> None:
    """Asked in the very first message: the e-mail carries it though it is stored only with its
    answer, and its link opens the conversation in the inbox for the tenant's agent."""
    await Tenant.objects.filter(pk=world.acme.pk).aupdate(
        escalation_email="support@acme.test", handoff_auto_assign=False
    )
    dana = await agent_of(world.acme, "dana")
    bob, ready = await open_chat(world.token(world.bob, world.acme))
    await send_message(bob, "I want to talk to a human about my invoice [[tokens=2]]")
    await frames_until(bob, "done")
    await bob.disconnect()

    body = await sync_to_async(wait_for)(lambda: celery_worker.mail_about(f"#{ready['conversation_id']}"))
    assert "user: I want to talk to a human about my invoice [[tokens=2]]" in body
    link = next(
        line.split(": ", 1)[1] for line in body.splitlines() if line.startswith("Answer it in the inbox")
    )
    path = link.split("://", 1)[1].split("/", 1)[1]

    def open_link(username: str) -> int:
        client = Client()
        assert client.login(username=username, password=PASSWORD)
        return client.get(f"/{path}").status_code

    assert await sync_to_async(open_link)("dana") == 200
    assert await sync_to_async(open_link)("bob") == 403  # a member, not an agent
    listed = (await get(world.token(dana, world.acme), "/api/v1/inbox/?view=unassigned")).json()
    assert [c["id"] for c in listed] == [ready["conversation_id"]]
    assert (
        await Message.objects.for_tenant(world.acme.pk)
        .filter(conversation_id=ready["conversation_id"])
        .acount()
        == 2
    )
