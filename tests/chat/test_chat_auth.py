"""Who may open a chat socket, and which conversations it may continue."""

from datetime import timedelta

from channels.db import database_sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from tenants.models import Membership
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, session_cookie
from testkit.ws import TIMEOUT, connect, open_chat


async def refused(**kwargs: object) -> bool:
    communicator, connected, _ = await connect(**kwargs)  # type: ignore[arg-type]
    await communicator.disconnect()
    return not connected


async def test_token_as_subprotocol_is_accepted_with_chat_v1(world: World, fake_llm: FakeOpenAI) -> None:
    communicator, connected, subprotocol = await connect(token=world.token(world.alice, world.acme))
    assert connected and subprotocol == "chat.v1"
    await communicator.disconnect()


async def test_token_in_the_query_string_is_accepted(world: World, fake_llm: FakeOpenAI) -> None:
    communicator, connected, _ = await connect(token=world.token(world.alice, world.acme), via="query")
    assert connected
    assert (await communicator.receive_json_from(TIMEOUT))["type"] == "ready"
    await communicator.disconnect()


async def test_missing_bad_expired_and_staff_tokens_are_refused(world: World) -> None:
    assert await refused()
    assert await refused(token="not-a-jwt")
    expired = AccessToken.for_user(world.alice)
    expired["tenant"] = "acme"
    expired.set_exp(lifetime=-timedelta(seconds=1))
    assert await refused(token=str(expired))
    assert await refused(token=world.token(world.staff, None))
    # A bearer subprotocol without chat.v1 offered would fail in browsers: refused too.
    assert await refused(subprotocols=[f"bearer.{world.token(world.alice, world.acme)}"])


async def test_no_membership_inactive_membership_and_inactive_tenant_are_refused(world: World) -> None:
    assert await refused(token=world.token(world.carol, world.acme))  # carol is in globex only

    await database_sync_to_async(Membership.objects.for_tenant(world.acme).filter(user=world.bob).update)(
        active=False
    )
    assert await refused(token=world.token(world.bob, world.acme))

    token = world.token(world.alice, world.acme)
    world.acme.active = False
    await database_sync_to_async(world.acme.save)()
    assert await refused(token=token)


async def test_another_tenants_or_users_conversation_is_not_found(world: World, fake_llm: FakeOpenAI) -> None:
    communicator, ready = await open_chat(world.token(world.alice, world.acme))
    await communicator.disconnect()
    path = f"/ws/chat/{ready['conversation_id']}/"
    for user, tenant in [(world.carol, world.globex), (world.bob, world.acme)]:
        intruder, connected, _ = await connect(path, token=world.token(user, tenant))
        assert connected
        error = await intruder.receive_json_from(TIMEOUT)
        assert error == {"type": "error", "code": "NOT_FOUND", "message": "no such conversation"}
        assert (await intruder.receive_output(TIMEOUT))["code"] == 4404
    # An id that does not exist at all looks exactly the same.
    intruder, _, _ = await connect("/ws/chat/987654321/", token=world.token(world.carol, world.globex))
    assert (await intruder.receive_json_from(TIMEOUT))["code"] == "NOT_FOUND"


async def test_a_token_expiring_mid_session_closes_with_4401(world: World, fake_llm: FakeOpenAI) -> None:
    token = AccessToken.for_user(world.alice)
    token["tenant"] = "acme"
    # Long enough for the handshake on a busy machine, short enough for the test to wait it out.
    token.set_exp(lifetime=timedelta(seconds=4))
    communicator, _ = await open_chat(str(token))
    closed = await communicator.receive_output(60)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4401)


async def test_the_chat_pages_session_is_accepted_from_its_own_origin_only(
    world: World, fake_llm: FakeOpenAI
) -> None:
    cookie = await session_cookie(world.alice, "acme")
    same_origin = [(b"cookie", cookie), (b"host", b"localhost:8000"), (b"origin", b"http://localhost:8000")]
    communicator, connected, _ = await connect(headers=same_origin)
    assert connected
    assert (await communicator.receive_json_from(TIMEOUT))["greeting"] == "Welcome to Acme support!"
    await communicator.disconnect()

    evil = [(b"cookie", cookie), (b"host", b"localhost:8000"), (b"origin", b"http://evil.example")]
    assert await refused(headers=evil)
    assert await refused(headers=[(b"cookie", cookie), (b"host", b"localhost:8000")])
    no_tenant = await session_cookie(world.alice, None)
    assert await refused(headers=[(b"cookie", no_tenant), *same_origin[1:]])
    wrong_tenant = await session_cookie(world.alice, "globex")
    assert await refused(headers=[(b"cookie", wrong_tenant), *same_origin[1:]])
