"""The widget's socket through the real ASGI app, Postgres, Redis and the fake OpenAI server: a
visitor's turn is a member's turn (stored, billed, limited) without the members' fields; the
handshake checks the page (Origin), the site and the visitor token; a visitor never reaches
another's conversation; the visitor's, the address's and the site's limits hold across sockets."""

import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from billing.models import UsageRecord
from chat.analytics import day_stats, today_utc
from chat.models import Conversation, Message
from chatplatform.asgi import application
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, client_for, reconfigure
from testkit.ws import TIMEOUT, ChatCommunicator, ask, frames_until, open_chat, send_message
from widget.models import Site, Visitor
from widget.services import site_create

pytestmark = pytest.mark.django_db(transaction=True)

PLATFORM = (b"host", b"127.0.0.1:8000")
OWN_PAGE = (b"origin", b"http://127.0.0.1:8000")


@database_sync_to_async
def new_site(world: World, **fields: Any) -> Site:
    return site_create(
        tenant=world.acme,
        fields={"name": f"Shop {time.monotonic_ns()}", "allowed_domains": ["shop.example.com"], **fields},
    )


@database_sync_to_async
def visitor_token(site: Site) -> str:
    answer = APIClient().post(f"/widget/{site.key}/visitors/", {}, format="json")
    assert answer.status_code == 201, answer.json()
    return answer.json()["token"]


async def connect(
    site: Site, token: str | None, conversation_id: int | None = None, origin: tuple[bytes, bytes] = OWN_PAGE
) -> tuple[ChatCommunicator, bool]:
    path = f"/ws/widget/{site.key}/" + (f"{conversation_id}/" if conversation_id else "")
    protocols = ["chat.v1"] + ([f"bearer.{token}"] if token else [])
    headers = [PLATFORM, origin]
    communicator = ChatCommunicator(application, path, headers=headers, subprotocols=protocols)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    return communicator, connected


async def open_widget(
    site: Site, token: str, conversation_id: int | None = None
) -> tuple[ChatCommunicator, dict[str, Any]]:
    communicator, connected = await connect(site, token, conversation_id)
    assert connected, "handshake refused"
    ready = await communicator.receive_json_from(TIMEOUT)
    assert ready["type"] == "ready", ready
    return communicator, ready


async def refusal_of(communicator: ChatCommunicator, content: str) -> dict[str, Any]:
    """The ``error`` frame a message gets instead of an answer."""
    await send_message(communicator, content)
    return (await frames_until(communicator, "error"))[-1]


async def refused_at_open(
    site: Site, token: str | None, conversation_id: int | None = None
) -> tuple[dict[str, Any], int]:
    """A handshake that is accepted only to say why it closes: the frame and the close code."""
    communicator, connected = await connect(site, token, conversation_id)
    assert connected
    return await refusal(communicator)


async def refusal(communicator: ChatCommunicator) -> tuple[dict[str, Any], int]:
    frame = await communicator.receive_json_from(TIMEOUT)
    closed = await communicator.receive_output(TIMEOUT)
    assert closed["type"] == "websocket.close", closed
    return frame, closed["code"]


async def test_a_visitor_chats_and_the_tenant_sees_it_without_usage_in_the_visitors_frames(
    world: World, fake_llm: FakeOpenAI
) -> None:
    site = await new_site(world)
    token = await visitor_token(site)
    communicator, ready = await open_widget(site, token)
    assert ready["show_usage"] is False and ready["greeting"] == "Welcome to Acme support!"
    frames = await ask(communicator, "Where is my parcel? [[tokens=5]]")
    done = frames[-1]
    assert done["type"] == "done" and done["finish_reason"] == "stop"
    assert not {"model", "usage", "cost_usd"} & set(done), done
    await communicator.disconnect()

    visitor = await Visitor.all_tenants.aget(site=site)
    conversation = await Conversation.all_tenants.aget(pk=ready["conversation_id"])
    assert (
        conversation.tenant_id,
        conversation.user_id,
        conversation.message_count,
        conversation.site_id,
    ) == (
        world.acme.pk,
        visitor.user_id,
        2,
        site.pk,
    )
    answer = await Message.all_tenants.aget(conversation=conversation, role="assistant")
    assert answer.output_tokens == 5 and answer.cost_usd > 0
    usage = await UsageRecord.all_tenants.aget(message_id=answer.pk)
    assert usage.tenant_id == world.acme.pk
    # The tenant's system prompt answered it, as for a member.
    assert fake_llm.calls[-1].messages[0]["content"].startswith("You are Acme's assistant.")

    # A reconnect continues the conversation; another visitor of the site gets a 4404 there.
    again, ready_again = await open_widget(site, token, ready["conversation_id"])
    assert ready_again["conversation_id"] == ready["conversation_id"]
    await again.disconnect()
    frame, code = await refused_at_open(site, await visitor_token(site), ready["conversation_id"])
    assert (frame["code"], code) == ("NOT_FOUND", 4404)


async def test_a_member_conversation_is_not_a_visitors_and_a_visitor_token_is_no_members(
    world: World, fake_llm: FakeOpenAI
) -> None:
    site = await new_site(world)
    member_conversation = await Conversation.all_tenants.acreate(tenant=world.acme, user=world.alice)
    assert await refused_at_open(site, await visitor_token(site), member_conversation.pk) == (
        {"type": "error", "code": "NOT_FOUND", "message": "no such conversation"},
        4404,
    )
    # The member socket refuses a visitor token outright (not a JWT of ours).
    member = ChatCommunicator(
        application, "/ws/chat/", subprotocols=["chat.v1", f"bearer.{await visitor_token(site)}"]
    )
    assert (await member.connect(timeout=TIMEOUT))[0] is False
    # And the widget socket refuses a member's JWT.
    frame, code = await refused_at_open(site, world.token(world.alice, world.acme))
    assert (frame["code"], code) == ("UNAUTHENTICATED", 4401)


@pytest.mark.parametrize("origin", [b"https://shop.example.com", b"https://evil.example", b""])
async def test_only_the_widgets_own_page_opens_its_socket(world: World, origin: bytes) -> None:
    """Not even an allowed domain's page: the host page never holds the visitor's socket."""
    site = await new_site(world)
    _, connected = await connect(site, await visitor_token(site), origin=(b"origin", origin))
    assert connected is False


async def test_a_bad_missing_or_another_sites_visitor_token_is_told_to_fetch_a_new_one(world: World) -> None:
    site, other = await new_site(world), await new_site(world)
    good = await visitor_token(site)
    for token in (None, good + "x", await visitor_token(other), "a" * 600):
        frame, code = await refused_at_open(site, token)
        assert (frame["code"], code) == ("UNAUTHENTICATED", 4401), token
    # An unknown or disabled site: refused at the handshake, nothing told.
    await Site.all_tenants.filter(pk=other.pk).aupdate(enabled=False)
    assert (await connect(other, await visitor_token(site)))[1] is False


async def test_a_site_that_turns_to_verified_only_stops_its_anonymous_visitors(
    world: World, fake_llm: FakeOpenAI
) -> None:
    site = await new_site(world)
    token = await visitor_token(site)
    communicator, _ = await open_widget(site, token)
    await Site.all_tenants.filter(pk=site.pk).aupdate(require_verification=True)
    # Every message re-checks the visitor's rights: the open socket's next one is refused.
    await send_message(communicator, "still there?")
    frames = await frames_until(communicator, "error")
    assert frames[-1]["code"] == "ACCESS_REVOKED"
    assert (await communicator.receive_output(TIMEOUT))["code"] == 4403
    frame, code = await refused_at_open(site, token)
    assert (frame["code"], code) == ("VERIFICATION_REQUIRED", 4403)


async def test_the_visitors_and_the_addresss_limits_hold_across_sockets(
    world: World, fake_llm: FakeOpenAI
) -> None:
    site = await new_site(world, visitor_messages_per_minute=2, address_messages_per_minute=3)
    token = await visitor_token(site)
    first, _ = await open_widget(site, token)
    second, _ = await open_widget(site, token)
    for socket in (first, second):
        assert (await ask(socket, "hello [[tokens=2]]"))[-1]["type"] == "done"
    refused = await refusal_of(first, "one more [[tokens=2]]")
    assert (refused["code"], refused["limit"]) == ("RATE_LIMITED", "visitor_per_minute")
    assert 0 < refused["retry_after"] <= 60
    assert "from you" in refused["message"]
    # Another visitor behind the same address: one message left for the address.
    other, _ = await open_widget(site, await visitor_token(site))
    assert (await ask(other, "hi [[tokens=2]]"))[-1]["type"] == "done"
    refused = await refusal_of(other, "again [[tokens=2]]")
    assert (refused["code"], refused["limit"]) == ("RATE_LIMITED", "address_per_minute")
    for socket in (first, second, other):
        await socket.disconnect()


async def test_new_conversations_are_counted_and_the_tenants_own_limits_are_not_explained(
    world: World, fake_llm: FakeOpenAI
) -> None:
    site = await new_site(world, visitor_conversations_per_hour=1)
    token = await visitor_token(site)
    first, _ = await open_widget(site, token)
    assert (await ask(first, "hello [[tokens=2]]"))[-1]["type"] == "done"
    assert (await ask(first, "and then? [[tokens=2]]"))[-1]["type"] == "done"  # the same conversation
    second, _ = await open_widget(site, token)
    refused = await refusal_of(second, "a new question [[tokens=2]]")
    assert (refused["code"], refused["limit"]) == ("RATE_LIMITED", "visitor_conversations_per_hour")
    # The tenant's budget is the tenant's business: a visitor is only told to try later.
    await reconfigure(world.acme, monthly_token_budget_override=1)
    third, _ = await open_widget(site, await visitor_token(site))
    refused = await refusal_of(third, "anyone? [[tokens=2]]")
    assert refused["code"] == "BUDGET_EXCEEDED" and "limit" not in refused
    assert "tokens" not in refused["message"] and "try again later" in refused["message"]
    for socket in (first, second, third):
        await socket.disconnect()


async def test_a_replayed_client_id_is_answered_once(world: World, fake_llm: FakeOpenAI) -> None:
    site = await new_site(world)
    communicator, _ = await open_widget(site, await visitor_token(site))
    client_id = str(uuid.uuid4())
    await send_message(communicator, "only once [[tokens=3]]", client_id)
    first = await frames_until(communicator, "done")
    await send_message(communicator, "only once [[tokens=3]]", client_id)
    replay = await frames_until(communicator, "done")
    assert replay[-1]["message_id"] == first[-1]["message_id"]
    assert len([c for c in fake_llm.calls if "only once" in c.messages[-1]["content"]]) == 1
    await communicator.disconnect()


async def test_the_tenant_sees_visitors_conversations_by_channel(world: World, fake_llm: FakeOpenAI) -> None:
    """In its conversations (``?channel=``) and its analytics (``by_channel``), beside its members'."""
    site = await new_site(world)
    visitor, _ = await open_widget(site, await visitor_token(site))
    await ask(visitor, "from the website [[tokens=2]]")
    await visitor.disconnect()
    member, _ = await open_chat(world.token(world.bob, world.acme))
    await ask(member, "from the chat page [[tokens=2]]")
    await member.disconnect()

    owner = client_for(world.token(world.alice, world.acme))
    by_site = await database_sync_to_async(owner.get)(f"/api/v1/conversations/?channel=site:{site.pk}")
    assert [c["site"] for c in by_site.json()["results"]] == [site.pk]
    chat = await database_sync_to_async(owner.get)("/api/v1/conversations/?channel=chat")
    assert [c["site"] for c in chat.json()["results"]] == [None]
    for bad in ("site:x", "site:", "web", "site:\x00"):
        refused = await database_sync_to_async(owner.get)(f"/api/v1/conversations/?channel={bad}")
        assert refused.status_code == 400, bad

    await database_sync_to_async(day_stats)(tenant_id=world.acme.pk, day=today_utc())
    days = (await database_sync_to_async(owner.get)("/api/v1/analytics/")).json()["days"]
    channels = days[-1]["by_channel"]
    assert set(channels) == {"chat", f"site:{site.pk}"}
    for name in channels:
        assert (channels[name]["conversations"], channels[name]["answers"]) == (1, 1)
        assert Decimal(channels[name]["cost_usd"]) > 0
