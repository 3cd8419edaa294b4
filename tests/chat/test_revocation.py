"""Rights that change while a socket is open: it closes with 4403 (pushed), and a message sent
before the push lands is refused (checked per message). The member role and removal endpoints."""

import asyncio
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from infra.db import in_db_thread
from tenants.models import Membership, Role, Tenant
from tenants.services import member_remove, member_update
from testkit.fake_openai import FakeOpenAI
from testkit.world import World, client_for, make_user
from testkit.ws import TIMEOUT, frames_until, open_chat, send_message


async def closed_with_4403(communicator: WebsocketCommunicator) -> None:
    """The final frames: an ACCESS_REVOKED error, then the close."""
    while True:
        output = await communicator.receive_output(TIMEOUT)
        if output["type"] == "websocket.close":
            assert output["code"] == 4403
            return
        assert '"ACCESS_REVOKED"' in output["text"] or '"token"' in output["text"], output


def membership(tenant: Tenant, user: Any) -> Membership:
    return Membership.objects.for_tenant(tenant).get(user=user)


@pytest.mark.parametrize(
    "change",
    [
        lambda w: member_remove(actor_role=None, membership=membership(w.acme, w.bob)),
        lambda w: member_update(actor_role=None, membership=membership(w.acme, w.bob), active=False),
        lambda w: member_update(actor_role=None, membership=membership(w.acme, w.bob), role=Role.VIEWER),
        lambda w: setattr(w.bob, "is_active", False) or w.bob.save(),
        lambda w: setattr(w.acme, "active", False) or w.acme.save(),
    ],
    ids=["removed", "deactivated", "role-changed", "user-deactivated", "tenant-deactivated"],
)
async def test_a_change_of_rights_closes_the_open_socket_at_once(
    world: World, fake_llm: FakeOpenAI, change: Any
) -> None:
    bob, _ = await open_chat(world.token(world.bob, world.acme))
    bystander, _ = await open_chat(world.token(world.carol, world.globex))
    await in_db_thread(change)(world)
    await closed_with_4403(bob)
    await bystander.send_json_to({"type": "ping"})  # another tenant's socket is untouched
    assert await bystander.receive_json_from(TIMEOUT) == {"type": "pong"}
    await bystander.disconnect()


async def test_a_revoked_socket_stops_the_answer_it_follows(world: World, fake_llm: FakeOpenAI) -> None:
    bob, _ = await open_chat(world.token(world.bob, world.acme))
    await send_message(bob, "[[tokens=2000]] [[delay=0.01]]")
    await frames_until(bob, "token")
    await in_db_thread(lambda: member_remove(actor_role=None, membership=membership(world.acme, world.bob)))()
    await closed_with_4403(bob)
    assert await asyncio.to_thread(fake_llm.calls[-1].closed.wait, 10), "the upstream stream was not closed"


async def test_a_message_sent_after_a_silent_revocation_is_refused(
    world: World, fake_llm: FakeOpenAI
) -> None:
    """A change that sends no push (a queryset update) still stops the next message."""
    bob, _ = await open_chat(world.token(world.bob, world.acme))
    await Membership.objects.for_tenant(world.acme).filter(user=world.bob).aupdate(active=False)
    await send_message(bob, "still here? [[tokens=2]]")
    await closed_with_4403(bob)
    assert fake_llm.calls == []


# -- REST: tenants/{slug}/members/{id}/ ------------------------------------------------------


def member_url(tenant: Tenant, member: Membership) -> str:
    return f"/api/v1/tenants/{tenant.slug}/members/{member.pk}/"


@pytest.mark.django_db(transaction=True)
def test_owners_and_admins_change_roles_and_remove_members(world: World) -> None:
    dave = make_user("dave")
    admin = Membership.objects.create(tenant=world.acme, user=dave, role=Role.ADMIN)
    as_admin = client_for(world.token(dave, world.acme))
    bob = membership(world.acme, world.bob)
    response = as_admin.patch(member_url(world.acme, bob), {"role": "viewer"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "viewer"
    # Admins do not touch owners, nor make them.
    alice = membership(world.acme, world.alice)
    assert as_admin.patch(member_url(world.acme, alice), {"role": "member"}, format="json").status_code == 403
    assert as_admin.patch(member_url(world.acme, bob), {"role": "owner"}, format="json").status_code == 403
    assert as_admin.delete(member_url(world.acme, alice)).status_code == 403
    # The last owner stays, whoever asks.
    as_owner = client_for(world.token(world.alice, world.acme))
    response = as_owner.patch(member_url(world.acme, alice), {"role": "admin"}, format="json")
    assert response.status_code == 409 and "last active owner" in response.json()["detail"]
    assert as_owner.delete(member_url(world.acme, alice)).status_code == 409
    # Members and viewers change nothing.
    as_viewer = client_for(world.token(world.bob, world.acme))
    assert as_viewer.delete(member_url(world.acme, admin)).status_code == 403
    assert as_admin.delete(member_url(world.acme, bob)).status_code == 204
    assert not Membership.objects.for_tenant(world.acme).filter(user=world.bob).exists()
    # Bad input is a 400 with a JSON body.
    response = as_owner.patch(member_url(world.acme, admin), {"role": "emperor"}, format="json")
    assert response.status_code == 400 and "role" in response.json()["errors"]


@pytest.mark.django_db(transaction=True)
def test_another_tenants_member_is_a_404(world: World) -> None:
    carol = membership(world.globex, world.carol)
    as_owner = client_for(world.token(world.alice, world.acme))
    assert (
        as_owner.patch(
            f"/api/v1/tenants/acme/members/{carol.pk}/", {"role": "viewer"}, format="json"
        ).status_code
        == 404
    )
    assert as_owner.delete(f"/api/v1/tenants/acme/members/{carol.pk}/").status_code == 404
    assert as_owner.delete(member_url(world.globex, carol)).status_code == 404
    assert as_owner.delete("/api/v1/tenants/acme/members/999999/").status_code == 404
    assert Membership.objects.for_tenant(world.globex).filter(pk=carol.pk, role=Role.MEMBER).exists()
