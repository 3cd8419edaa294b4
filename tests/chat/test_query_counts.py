"""Query counts: the REST lists and exports, and the turn's opening, cost the same number of
queries whatever the number of rows (no query per conversation, message or file), and the
turn's opening stays one statement."""

import uuid
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.models import ChatFile, Conversation, Message
from chat.selectors import turn_opening
from testkit.world import World, client_for


def fill(world: World, conversations: int, messages: int) -> list[Conversation]:
    made = []
    for n in range(conversations):
        conversation = Conversation.objects.create(tenant=world.acme, user=world.bob, title=f"c{n}")
        for m in range(messages):
            message = Message.objects.create(
                tenant=world.acme,
                conversation=conversation,
                role="user" if m % 2 == 0 else "assistant",
                content=f"message {m}",
            )
            if m == 0:
                ChatFile.objects.for_tenant(world.acme.pk).create(
                    tenant=world.acme,
                    user=world.bob,
                    conversation=conversation,
                    message=message,
                    filename="a.txt",
                    content_type="text/plain",
                    size_bytes=1,
                    key=f"k{n}",
                )
        made.append(conversation)
    return made


def queries(call: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = call()
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
        else:
            assert response.status_code == 200, response.content
    return len(captured.captured_queries)


def test_lists_and_exports_cost_the_same_queries_for_3_or_30_rows(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    small = fill(world, 3, 2)
    first = {
        "list": queries(lambda: owner.get("/api/v1/conversations/")),
        "messages": queries(lambda: owner.get(f"/api/v1/conversations/{small[0].pk}/messages/")),
        "export one": queries(lambda: owner.get(f"/api/v1/conversations/{small[0].pk}/export/?format=json")),
        "export all": queries(lambda: owner.get("/api/v1/conversations/export/?format=csv")),
    }
    large = fill(world, 27, 20)
    second = {
        "list": queries(lambda: owner.get("/api/v1/conversations/")),
        "messages": queries(lambda: owner.get(f"/api/v1/conversations/{large[0].pk}/messages/")),
        "export one": queries(lambda: owner.get(f"/api/v1/conversations/{large[0].pk}/export/?format=json")),
        "export all": queries(lambda: owner.get("/api/v1/conversations/export/?format=csv")),
    }
    assert first == second, (first, second)


def test_the_turns_opening_is_one_statement(world: World) -> None:
    (conversation,) = fill(world, 1, 4)
    with CaptureQueriesContext(connection) as captured:
        opening = turn_opening(
            tenant_id=world.acme.pk,
            user_id=world.bob.pk,
            conversation_id=conversation.pk,
            client_id=uuid.uuid4(),
        )
    assert opening is not None and opening.state is not None and len(opening.message_ids) == 2
    assert len(captured.captured_queries) == 1, [q["sql"][:120] for q in captured.captured_queries]
