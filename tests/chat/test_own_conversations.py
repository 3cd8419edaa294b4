"""A user's own conversations over the protocol: a deleted one is gone for its sockets (open ones
close with 4404, a reconnect is refused), ``ready.show_usage`` follows the role and the tenant's
choice, and titles are plain text."""

import redis
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from chat.history.background import conversation_title, plain_title
from chat.history.pending import PENDING_PER_USER
from chat.models import Conversation
from chat.services import conversation_delete
from infra.keys import tenant_prefix
from tenants.models import Membership
from tenants.models import Role as MemberRole
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, make_user, reconfigure
from testkit.ws import TIMEOUT, ask, connect, open_chat


async def test_deleting_a_conversation_closes_its_sockets_and_refuses_reconnects(
    world: World, fake_llm: FakeOpenAI
) -> None:
    first, ready = await open_chat(world.token(world.alice, world.acme))
    await ask(first, "keep this [[tokens=2]]")
    conversation_id = ready["conversation_id"]
    second, _ = await open_chat(world.token(world.alice, world.acme), f"/ws/chat/{conversation_id}/")
    other, other_ready = await open_chat(world.token(world.alice, world.acme))

    deleted = await database_sync_to_async(conversation_delete)(
        tenant_id=world.acme.pk, user_id=world.alice.pk, conversation_id=conversation_id, now=timezone.now()
    )
    assert deleted
    for socket in (first, second):
        frame = await socket.receive_json_from(TIMEOUT)
        assert frame["type"] == "error" and frame["code"] == "NOT_FOUND", frame
        assert (await socket.receive_output(TIMEOUT)) == {"type": "websocket.close", "code": 4404}
    # The user's socket in another conversation stays open.
    await other.send_json_to({"type": "ping"})
    assert await other.receive_json_from(TIMEOUT) == {"type": "pong"}
    again, connected, _ = await connect(
        f"/ws/chat/{conversation_id}/", token=world.token(world.alice, world.acme)
    )
    assert connected and (await again.receive_json_from(TIMEOUT))["code"] == "NOT_FOUND"
    assert (await again.receive_output(TIMEOUT))["code"] == 4404
    await other.disconnect()
    assert other_ready["conversation_id"] != conversation_id


async def test_ready_says_whether_the_page_shows_usage(world: World, fake_llm: FakeOpenAI) -> None:
    member = await database_sync_to_async(make_user)("mia")
    await Membership.objects.for_tenant(world.acme.pk).acreate(
        tenant=world.acme, user=member, role=MemberRole.MEMBER
    )
    owner_socket, owner_ready = await open_chat(world.token(world.alice, world.acme))
    member_socket, member_ready = await open_chat(world.token(member, world.acme))
    assert owner_ready["show_usage"] is True and member_ready["show_usage"] is False
    await reconfigure(world.acme, members_see_usage=True)
    again, again_ready = await open_chat(world.token(member, world.acme))
    assert again_ready["show_usage"] is True
    for socket in (owner_socket, member_socket, again):
        await socket.disconnect()


def test_titles_are_plain_text() -> None:
    assert plain_title('**"Title:** Refund for a `broken` kettle"') == "Refund for a broken kettle"
    assert plain_title("\n\n# Reset the password\nmore") == "Reset the password"
    assert plain_title("one two three", max_words=2) == "one two…"
    assert plain_title("**This is the offline demo model**, not a real LLM") == (
        "This is the offline demo model, not a real LLM"
    )


@override_settings(OPENAI_API_KEY="")
def test_the_demo_model_titles_a_conversation_with_the_questions_first_words(world: World) -> None:
    conversation = Conversation.objects.create(tenant=world.acme, user=world.alice, message_count=2)
    conversation.messages.create(
        tenant=world.acme, role="user", content="How do I **reset** my password on the app?"
    )
    conversation.messages.create(
        tenant=world.acme, role="assistant", content="**This is the offline demo model**"
    )
    assert conversation_title(tenant_id=world.acme.pk, conversation_id=conversation.pk) == (
        "How do I reset my password on the…"
    )
    conversation.refresh_from_db()
    assert conversation.title == "How do I reset my password on the…"


async def test_bare_handshakes_leave_a_bounded_few_keys_and_the_newest_stay_reachable(world: World) -> None:
    """A loop of handshakes closed after ``ready`` cannot grow Redis (issue 30, 6): a user's
    pending conversations take a fixed number of slots, and the newest of them still reconnect."""
    token = world.token(world.carol, world.globex)
    client = redis.Redis.from_url(settings.REDIS_URL)
    opened = []
    for _ in range(120):
        socket, ready = await open_chat(token)
        opened.append(ready["conversation_id"])
        await socket.disconnect()
    keys = sorted(k.decode() for k in client.scan_iter(f"{tenant_prefix(world.globex.pk)}:*"))
    pending = [k for k in keys if "pending" in k]
    assert len(set(opened)) == 120
    assert len(pending) <= PENDING_PER_USER + 1, pending  # the slots and their counter
    newest, _ = await open_chat(token, f"/ws/chat/{opened[-1]}/")
    await newest.disconnect()
    oldest, connected, _ = await connect(f"/ws/chat/{opened[0]}/", token=token)
    assert connected and (await oldest.receive_json_from(TIMEOUT))["code"] == "NOT_FOUND"


@override_settings(OPENAI_API_KEY="")
async def test_the_users_chat_sockets_are_told_the_title_once_it_is_written(world: World) -> None:
    """The heading follows the title without asking (issue 34): a ``title`` frame on the user's
    sockets, never another user's; a title the user gave is never overwritten, nor announced."""
    socket, ready = await open_chat(world.token(world.alice, world.acme))
    other, _ = await open_chat(world.token(world.bob, world.acme))
    socket.skipped = other.skipped = set()  # the helpers pass over titles: not here
    conversation = await Conversation.objects.for_tenant(world.acme.pk).acreate(
        tenant=world.acme, user=world.alice, message_count=1
    )
    await conversation.messages.acreate(tenant=world.acme, role="user", content="Where is my parcel?")
    title = await database_sync_to_async(conversation_title)(
        tenant_id=world.acme.pk, conversation_id=conversation.pk
    )
    assert await socket.receive_json_from(TIMEOUT) == {
        "type": "title",
        "conversation_id": conversation.pk,
        "title": title,
    }
    assert await other.receive_nothing(0.3)
    await database_sync_to_async(conversation_title)(tenant_id=world.acme.pk, conversation_id=conversation.pk)
    assert await socket.receive_nothing(0.3)  # titled already: nothing new
    for communicator in (socket, other):
        await communicator.disconnect()
    assert ready["conversation_id"] != conversation.pk
