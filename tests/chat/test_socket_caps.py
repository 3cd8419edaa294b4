"""Sockets open at once, capped per user and per tenant by the tier: the socket past a cap is
told why (``TOO_MANY_CONNECTIONS``, naming the limit) and closed with 4429; a closed socket gives
its slot back at once."""

from channels.testing import WebsocketCommunicator

from chat.models import Conversation
from tenants.models import Tenant
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, reconfigure
from testkit.ws import TIMEOUT, connect, open_chat


async def refused_with(token: str, limit: str) -> None:
    communicator, connected, _ = await connect(token=token)
    assert connected  # accepted only to say why it closes
    error = await communicator.receive_json_from(TIMEOUT)
    assert (error["code"], error["limit"]) == ("TOO_MANY_CONNECTIONS", limit), error
    closed = await communicator.receive_output(TIMEOUT)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4429)


async def test_a_user_holds_at_most_the_tiers_sockets(world: World, fake_llm: FakeOpenAI) -> None:
    token = world.token(world.carol, world.globex)  # Free: 5 per user
    sockets: list[WebsocketCommunicator] = [(await open_chat(token))[0] for _ in range(5)]
    await refused_with(token, "user_sockets")
    await sockets.pop().disconnect()
    sockets.append((await open_chat(token))[0])  # the closed one's slot is free again
    await sockets[0].send_json_to({"type": "ping"})
    assert await sockets[0].receive_json_from(TIMEOUT) == {"type": "pong"}
    for socket in sockets:
        await socket.disconnect()


async def test_a_tenant_holds_at_most_its_sockets(world: World, fake_llm: FakeOpenAI) -> None:
    await reconfigure(world.acme, max_sockets_override=3)
    alice, bob = world.token(world.alice, world.acme), world.token(world.bob, world.acme)
    sockets = [(await open_chat(alice))[0], (await open_chat(alice))[0], (await open_chat(bob))[0]]
    await refused_with(bob, "tenant_sockets")
    # Another tenant is not counted with it.
    other, _ = await open_chat(world.token(world.carol, world.globex))
    for socket in [*sockets, other]:
        await socket.disconnect()
    assert await Tenant.objects.filter(pk=world.acme.pk, max_sockets_override=3).aexists()


async def test_bare_connections_leave_nothing_behind(world: World, fake_llm: FakeOpenAI) -> None:
    """Handshakes in a loop write no conversation: a conversation's row comes with its first
    message (``chat.history.pending``)."""
    token = world.token(world.carol, world.globex)
    seen = set()
    for _ in range(30):
        communicator, ready = await open_chat(token)
        seen.add(ready["conversation_id"])
        await communicator.disconnect()
    assert len(seen) == 30
    assert not await Conversation.all_tenants.filter(tenant=world.globex).aexists()
