"""The tenant's handover rules (issue 33): a 👎 on an answer, or N failed or refused answers in
a row, hand the conversation to a person without being asked; off by default. Each handoff move
reaches the tenant's webhook."""

from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from chat.models import Conversation, Handoff
from tenants.models import Membership, Role
from testkit.fake_openai import FakeOpenAI
from testkit.webhook import SECRET, Webhook
from testkit.worker import CeleryWorker, wait_for
from testkit.world import World, client_for, make_user, reconfigure
from testkit.ws import TIMEOUT, ask, frames_until, open_chat, send_message


async def test_a_thumbs_down_hands_the_conversation_to_a_person(world: World, fake_llm: FakeOpenAI) -> None:
    bob, ready = await open_chat(world.token(world.bob, world.acme))
    done = (await ask(bob, "where is my parcel? [[tokens=2]]"))[-1]
    await bob.send_json_to({"type": "feedback", "message_id": done["message_id"], "rating": 1})
    assert (await bob.receive_json_from(TIMEOUT))["type"] == "rated"
    assert await bob.receive_nothing(0.3)  # off by default
    assert (await Conversation.all_tenants.aget(pk=ready["conversation_id"])).handoff == Handoff.BOT

    await reconfigure(world.acme, handoff_on_thumbs_down=True)
    await bob.disconnect()
    bob, _ = await open_chat(world.token(world.bob, world.acme), f"/ws/chat/{ready['conversation_id']}/")
    await bob.send_json_to({"type": "feedback", "message_id": done["message_id"], "rating": 5})
    assert (await bob.receive_json_from(TIMEOUT))["type"] == "rated"
    await bob.send_json_to({"type": "feedback", "message_id": done["message_id"], "rating": 1})
    assert (await bob.receive_json_from(TIMEOUT))["type"] == "rated"
    assert (await bob.receive_json_from(TIMEOUT))["type"] == "escalated"
    conversation = await Conversation.all_tenants.aget(pk=ready["conversation_id"])
    assert conversation.handoff == Handoff.WAITING and conversation.escalation_reason == "rated an answer 👎"
    await bob.disconnect()


async def test_answers_refused_in_a_row_hand_it_to_a_person(world: World, fake_llm: FakeOpenAI) -> None:
    await reconfigure(world.acme, blocked_topics=["refund"], handoff_after_failures=2)
    bob, ready = await open_chat(world.token(world.bob, world.acme))
    await send_message(bob, "a refund please")
    assert (await frames_until(bob, "error"))[-1]["code"] == "BLOCKED_TOPIC"
    await ask(bob, "ok, hello [[tokens=2]]")  # an answer between: the count starts over
    await send_message(bob, "a refund please")
    assert (await frames_until(bob, "error"))[-1]["code"] == "BLOCKED_TOPIC"
    await send_message(bob, "refund now")
    assert (await frames_until(bob, "error"))[-1]["code"] == "BLOCKED_TOPIC"
    assert (await bob.receive_json_from(TIMEOUT))["type"] == "escalated"
    conversation = await Conversation.all_tenants.aget(pk=ready["conversation_id"])
    assert conversation.handoff == Handoff.WAITING and conversation.escalation_reason.startswith(
        "2 answers in a row"
    )
    await bob.disconnect()


async def test_each_handoff_move_is_posted_to_the_tenants_signed_webhook(
    world: World, webhook_worker: CeleryWorker, webhook: str
) -> None:
    """The alert webhook's signed client (``tools.webhook``), through the worker."""
    await reconfigure(
        world.acme, alert_webhook_url=webhook, alert_webhook_secret=SECRET, handoff_auto_assign=False
    )
    dana = await database_sync_to_async(make_user)("dana")
    await Membership.objects.for_tenant(world.acme).acreate(tenant=world.acme, user=dana, role=Role.AGENT)
    bob, ready = await open_chat(world.token(world.bob, world.acme))
    conversation_id = ready["conversation_id"]
    await bob.send_json_to({"type": "escalate"})
    await frames_until(bob, "escalated")
    agent = client_for(world.token(dana, world.acme))
    for move in ("take", "resolve"):
        answer = await database_sync_to_async(agent.post)(f"/api/v1/inbox/{conversation_id}/{move}/")
        assert answer.status_code == 204
    await bob.disconnect()

    def posted() -> list[dict[str, Any]] | None:
        return Webhook.received if len(Webhook.received) >= 3 else None

    events = sorted(await sync_to_async(wait_for)(posted), key=lambda e: e["at"])  # posted in any order
    assert [(e["event"], e["state"], e["agent"]) for e in events] == [
        ("conversation.handoff", "waiting", None),
        ("conversation.handoff", "human", "dana"),
        ("conversation.handoff", "resolved", None),
    ]
    assert all(
        e["signed"] and e["tenant"] == "acme" and e["conversation_id"] == conversation_id for e in events
    )
    assert {e["channel"] for e in events} == {"chat"}
