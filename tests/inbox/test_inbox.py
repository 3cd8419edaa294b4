"""The inbox's first part (issue 33): an agent role; a conversation that asks for a human waits
in the tenant's inbox (who asked, a member or a widget visitor; its cost and CSAT); agents take
it, owners and admins assign it, anyone of the team hands it back to the assistant; members,
viewers, visitors and another tenant's agents can do none of it, and another tenant's id is a
404."""

from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from chat.models import Conversation, Handoff, Message
from chat.services import conversation_escalate
from tenants.models import Membership, Role
from testkit.world import World, client_for, make_user
from widget.models import Visitor
from widget.services import site_create

pytestmark = pytest.mark.django_db(transaction=True)


def agent_of(world: World, tenant: Any, name: str) -> Any:
    user = make_user(name)
    Membership.objects.create(tenant=tenant, user=user, role=Role.AGENT)
    return user


def waiting(world: World, user: Any, tenant: Any = None, **fields: Any) -> Conversation:
    """A conversation of ``user`` that asked for a human."""
    tenant = tenant or world.acme
    conversation = Conversation.objects.for_tenant(tenant.pk).create(
        tenant=tenant, user=user, title="Refund", message_count=2, **fields
    )
    Message.objects.for_tenant(tenant.pk).create(
        tenant=tenant, conversation=conversation, role="assistant", content="…", cost_usd=Decimal("0.0021")
    )
    conversation_escalate(
        tenant_id=tenant.pk, conversation_id=conversation.pk, reason="wants a person", now=timezone.now()
    )
    return conversation


def inbox(client: APIClient, view: str = "all") -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/inbox/?view={view}")
    assert answer.status_code == 200, answer.json()
    return list(answer.json())


def test_a_conversation_that_asks_for_a_human_waits_and_an_agent_takes_it(world: World) -> None:
    dana = agent_of(world, world.acme, "dana")
    agent = client_for(world.token(dana, world.acme))
    site = site_create(tenant=world.acme, fields={"name": "Shop"})
    visitor_answer = APIClient().post(f"/widget/{site.key}/visitors/", {}, format="json")
    assert visitor_answer.status_code == 201
    visitor = Visitor.objects.for_tenant(world.acme.pk).get()
    from_member = waiting(world, world.bob)
    from_visitor = waiting(world, visitor.user, site_id=site.pk)
    Conversation.objects.for_tenant(world.acme.pk).create(tenant=world.acme, user=world.bob)  # the bot's

    listed = inbox(agent)
    assert [c["id"] for c in listed] == [from_visitor.pk, from_member.pk]  # newest request first
    first = listed[0]
    assert (first["handoff"], first["assignee"], first["reason"], first["site"]) == (
        "waiting",
        None,
        "wants a person",
        site.pk,
    )
    assert first["who"]["kind"] == "visitor" and first["who"]["site"] == "Shop"
    assert listed[1]["who"] == {"kind": "member", "name": "bob"}
    assert Decimal(listed[1]["cost_usd"]) == Decimal("0.0021")
    assert [c["id"] for c in inbox(agent, "unassigned")] == [from_visitor.pk, from_member.pk]
    assert inbox(agent, "mine") == []

    assert agent.post(f"/api/v1/inbox/{from_member.pk}/take/").status_code == 204
    assert [c["id"] for c in inbox(agent, "mine")] == [from_member.pk]
    assert [c["id"] for c in inbox(agent, "unassigned")] == [from_visitor.pk]
    conversation = Conversation.objects.for_tenant(world.acme.pk).get(pk=from_member.pk)
    assert (conversation.handoff, conversation.assignee_id) == (Handoff.HUMAN, dana.pk)
    # The agent reads its transcript (not a member's right: the inbox's).
    messages = agent.get(f"/api/v1/conversations/{from_member.pk}/messages/")
    assert messages.status_code == 200 and messages.json()["count"] == 1
    detail = agent.get(f"/api/v1/conversations/{from_member.pk}/").json()
    assert (detail["handoff"], detail["assignee"]) == ("human", "dana")

    # Handed back: the assistant's again, out of the inbox; taking it again is a 404.
    assert agent.post(f"/api/v1/inbox/{from_member.pk}/hand-back/").status_code == 204
    assert [c["id"] for c in inbox(agent)] == [from_visitor.pk]
    assert agent.post(f"/api/v1/inbox/{from_member.pk}/take/").status_code == 404
    assert agent.get(f"/api/v1/conversations/{from_member.pk}/").status_code == 404
    # Asking again puts it back in the inbox (the first e-mail is not sent twice).
    conversation_escalate(
        tenant_id=world.acme.pk, conversation_id=from_member.pk, reason="again", now=timezone.now()
    )
    assert from_member.pk in [c["id"] for c in inbox(agent, "unassigned")]


def test_owners_assign_to_agents_only_and_a_colleague_can_take_over(world: World) -> None:
    dana, erin = agent_of(world, world.acme, "dana"), agent_of(world, world.acme, "erin")
    conversation = waiting(world, world.bob)
    owner = client_for(world.token(world.alice, world.acme))
    assert owner.post(f"/api/v1/inbox/{conversation.pk}/assign/", {"agent": "dana"}).status_code == 204
    assert [c["assignee"] for c in inbox(client_for(world.token(dana, world.acme)), "mine")] == ["dana"]
    for not_agent in ("bob", "carol", "nobody", "root"):
        refused = owner.post(f"/api/v1/inbox/{conversation.pk}/assign/", {"agent": not_agent})
        assert refused.status_code == 400, not_agent
        assert "agent" in refused.json()["errors"]
    # An agent may not assign, but may take over a colleague's conversation.
    erin_client = client_for(world.token(erin, world.acme))
    refused = erin_client.post(f"/api/v1/inbox/{conversation.pk}/assign/", {"agent": "erin"})
    assert refused.status_code == 403
    assert erin_client.post(f"/api/v1/inbox/{conversation.pk}/take/").status_code == 204
    assert inbox(client_for(world.token(dana, world.acme)), "mine") == []


def test_only_the_tenants_team_reaches_its_inbox(world: World) -> None:
    conversation = waiting(world, world.bob)
    other = waiting(world, world.carol, tenant=world.globex)
    globex_agent = agent_of(world, world.globex, "gil")
    viewer = make_user("vera")
    Membership.objects.create(tenant=world.acme, user=viewer, role=Role.VIEWER)
    # A member, a viewer, no credentials, a widget visitor's token: no inbox.
    site = site_create(tenant=world.acme, fields={"name": "Shop"})
    visitor_token = APIClient().post(f"/widget/{site.key}/visitors/", {}, format="json").json()["token"]
    for client, status in (
        (client_for(world.token(world.bob, world.acme)), 403),
        (client_for(world.token(viewer, world.acme)), 403),
        (client_for(), 401),
        (client_for(visitor_token), 401),
    ):
        assert client.get("/api/v1/inbox/").status_code == status
        assert client.get("/api/v1/inbox/agents/").status_code == status
        assert client.get(f"/api/v1/inbox/{conversation.pk}/").status_code == status
        for move in ("take", "hand-back", "resolve"):
            assert client.post(f"/api/v1/inbox/{conversation.pk}/{move}/").status_code == status
        for written in ("reply", "notes"):
            answer = client.post(
                f"/api/v1/inbox/{conversation.pk}/{written}/", {"content": "x"}, format="json"
            )
            assert answer.status_code == status
    # Another tenant's agent: its own inbox only; ours is a 404.
    gil = client_for(world.token(globex_agent, world.globex))
    assert [c["id"] for c in inbox(gil)] == [other.pk]
    assert gil.post(f"/api/v1/inbox/{conversation.pk}/take/").status_code == 404
    assert gil.post(f"/api/v1/inbox/{conversation.pk}/hand-back/").status_code == 404
    assert gil.post(f"/api/v1/inbox/{conversation.pk}/resolve/").status_code == 404
    assert gil.get(f"/api/v1/inbox/{conversation.pk}/").status_code == 404
    for written in ("reply", "notes"):
        assert (
            gil.post(
                f"/api/v1/inbox/{conversation.pk}/{written}/", {"content": "x"}, format="json"
            ).status_code
            == 404
        )
    assert gil.get(f"/api/v1/conversations/{conversation.pk}/messages/").status_code == 404
    # Owners and admins are agents too; the platform's staff act as owners.
    assert [c["id"] for c in inbox(client_for(world.token(world.alice, world.acme)))] == [conversation.pk]
    assert (
        client_for(world.token(world.alice, world.acme)).get("/api/v1/inbox/?view=everything").status_code
        == 400
    )
    assert (
        client_for(world.token(world.alice, world.acme)).post("/api/v1/inbox/99999999999/take/").status_code
        == 404
    )
