"""A tenant's server chats for its people with an API key (issue 36): ``Authorization: Bearer
cpk_…`` on the WebSocket handshake and ``?end_user=<its id>``. Each end user has conversations,
limits and usage of their own; a key without the ``chat`` scope, a key in any other place, a
revoked, expired or foreign key, a bad end-user id are refused; a revoked key's open sockets
close at once (4401), and its member's deactivation closes them too (4403)."""

from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from billing.models import UsageRecord
from chat.models import Conversation
from tenants.api_keys import key_create, key_revoke
from tenants.models import ApiKey, EndUser, Membership
from tenants.services import member_update
from testkit.fake_openai import FakeOpenAI
from testkit.world import World
from testkit.ws import TIMEOUT, ask, closed_with, connect, streamed_text


@database_sync_to_async
def new_key(world: World, scopes: list[str], user: Any = None) -> str:
    membership = Membership.objects.for_tenant(world.acme).get(user=user or world.bob)
    return key_create(membership=membership, name="support bot", scopes=scopes).secret


async def key_socket(
    key: str, end_user: str | None = "crm-42", *, conversation_id: int | None = None
) -> tuple[Any, bool]:
    path = f"/ws/chat/{conversation_id}/" if conversation_id is not None else "/ws/chat/"
    if end_user is not None:
        path += f"?end_user={end_user}"
    authorization = [(b"authorization", f"Bearer {key}".encode())]
    communicator, connected, _ = await connect(path, headers=authorization)
    return communicator, connected


async def test_a_server_chats_for_each_of_its_end_users_apart(world: World, fake_llm: FakeOpenAI) -> None:
    key = await new_key(world, ["chat"])
    first, connected = await key_socket(key, "crm-42")
    assert connected and (await first.receive_json_from(TIMEOUT))["type"] == "ready"
    frames = await ask(first, "Where is my order?")
    assert streamed_text(frames) and frames[-1]["type"] == "done"
    await first.disconnect()

    second, connected = await key_socket(key, "crm-43")
    assert connected and (await second.receive_json_from(TIMEOUT))["type"] == "ready"
    await ask(second, "Hello")
    await second.disconnect()

    @database_sync_to_async
    def stored() -> tuple[list[str], int, int]:
        people = EndUser.objects.for_tenant(world.acme).order_by("external_id")
        conversations = Conversation.objects.for_tenant(world.acme).filter(user__end_user__in=people)
        usage = UsageRecord.objects.for_tenant(world.acme).filter(user__end_user__in=people)
        return [p.external_id for p in people], conversations.values("user").distinct().count(), usage.count()

    people, owners, usage = await stored()
    assert people == ["crm-42", "crm-43"] and owners == 2 and usage >= 2
    assert not await database_sync_to_async(
        Membership.objects.for_tenant(world.acme).filter(user__end_user__isnull=False).exists
    )()

    # The same person again: their own conversation is theirs to continue, not the other's.
    @database_sync_to_async
    def conversation_of(external_id: str) -> int:
        return Conversation.objects.for_tenant(world.acme).get(user__end_user__external_id=external_id).pk

    mine, other = await conversation_of("crm-42"), await conversation_of("crm-43")
    resumed, connected = await key_socket(key, "crm-42", conversation_id=mine)
    assert connected and (await resumed.receive_json_from(TIMEOUT))["conversation_id"] == mine
    await resumed.disconnect()
    foreign, connected = await key_socket(key, "crm-42", conversation_id=other)
    assert connected and (await foreign.receive_json_from(TIMEOUT))["code"] == "NOT_FOUND"
    assert (await foreign.receive_output(TIMEOUT))["code"] == 4404


async def test_keys_that_may_not_chat_are_refused(world: World, fake_llm: FakeOpenAI) -> None:
    reader = await new_key(world, ["conversations:read"])
    assert not (await key_socket(reader))[1]  # no chat scope
    chat = await new_key(world, ["chat"])
    assert not (await key_socket(chat, end_user=None))[1]  # no end user named
    assert not (await key_socket(chat, end_user="has%20space"))[1]
    assert not (await key_socket(chat, end_user="x" * 201))[1]
    assert not (await key_socket(chat[:-2] + "xx"))[1]  # not the key
    # The key anywhere but the Authorization header opens nothing.
    _, connected, _ = await connect("/ws/chat/?end_user=a", subprotocols=["chat.v1", f"bearer.{chat}"])
    assert not connected
    _, connected, _ = await connect(f"/ws/chat/?end_user=a&token={chat}")
    assert not connected

    @database_sync_to_async
    def expire() -> None:
        ApiKey.objects.for_tenant(world.acme).update(expires_at=timezone.now())

    await expire()
    assert not (await key_socket(chat))[1]


async def test_a_revoked_key_closes_its_open_sockets_at_once(world: World, fake_llm: FakeOpenAI) -> None:
    key = await new_key(world, ["chat"])
    other = await new_key(world, ["chat"])
    first, _ = await key_socket(key, "crm-1")
    second, _ = await key_socket(other, "crm-1")  # the same person, through another key
    for socket in (first, second):
        assert (await socket.receive_json_from(TIMEOUT))["type"] == "ready"

    @database_sync_to_async
    def revoke() -> None:
        key_revoke(key=ApiKey.objects.for_tenant(world.acme).get(prefix=key[:14]))

    await revoke()
    await closed_with(first, 4401)
    assert await second.receive_nothing(0.5)  # the other key's socket stays
    assert not (await key_socket(key, "crm-1"))[1]
    await second.disconnect()


async def test_the_keys_member_deactivated_closes_its_sockets(world: World, fake_llm: FakeOpenAI) -> None:
    key = await new_key(world, ["chat"])
    socket, _ = await key_socket(key)
    assert (await socket.receive_json_from(TIMEOUT))["type"] == "ready"

    @database_sync_to_async
    def deactivate() -> None:
        member_update(
            actor_role=None,
            membership=Membership.objects.for_tenant(world.acme).get(user=world.bob),
            active=False,
        )

    await deactivate()
    await closed_with(socket, 4403)
    assert not (await key_socket(key))[1]


async def test_a_key_names_only_so_many_new_end_users_an_hour(
    world: World, fake_llm: FakeOpenAI, settings: Any
) -> None:
    """A leaked key cannot fill the accounts table: past the hour's new end users it is told so
    (RATE_LIMITED, 4429); the people it already named still chat."""
    settings.API_KEY_NEW_END_USERS_PER_HOUR = 2
    key = await new_key(world, ["chat"])
    for person in ("crm-1", "crm-2", "crm-1"):
        socket, connected = await key_socket(key, person)
        assert connected and (await socket.receive_json_from(TIMEOUT))["type"] == "ready"
        await socket.disconnect()
    refused, connected = await key_socket(key, "crm-3")
    assert connected
    error = await refused.receive_json_from(TIMEOUT)
    assert error["code"] == "RATE_LIMITED" and "too many new end users" in error["message"]
    assert (await refused.receive_output(TIMEOUT))["code"] == 4429
    assert await database_sync_to_async(EndUser.objects.for_tenant(world.acme).count)() == 2
