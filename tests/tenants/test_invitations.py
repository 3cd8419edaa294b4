"""Invitations: how an existing account joins a tenant, with its consent. The inviter learns
nothing about accounts; the link is single-use, expires, can be revoked, and never crosses
tenants."""

import re
from datetime import timedelta
from typing import Any

from django.core import mail
from django.test import Client
from django.utils import timezone

from tenants.models import Invitation, Membership, Role
from testkit.world import PASSWORD, World, client_for


def invite(world: World, email: str, role: str = "member") -> tuple[Any, str]:
    """(the API's answer, the link e-mailed)."""
    mail.outbox.clear()
    owner = client_for(world.token(world.alice, world.acme))
    response = owner.post("/api/v1/tenants/acme/invitations/", {"email": email, "role": role}, format="json")
    (sent,) = mail.outbox
    assert sent.to == [email]
    link = re.search(r"https?://\S+/invitations/\S+/", sent.body)
    assert link is not None
    return response, link.group(0).split("://", 1)[1].split("/", 1)[1]


def test_an_invitation_tells_nothing_about_accounts(world: World) -> None:
    known, link = invite(world, "carol@example.com")
    unknown, _ = invite(world, "nobody@example.com")
    assert known.status_code == unknown.status_code == 201
    assert (
        set(known.json())
        == set(unknown.json())
        == {"id", "email", "role", "status", "invited_by", "created_at", "expires_at", "accepted_at"}
    )
    assert known.json()["status"] == "pending" and link.split("/")[-2] not in known.content.decode()
    assert not Membership.objects.for_tenant(world.acme).filter(user=world.carol).exists()
    listed = client_for(world.token(world.alice, world.acme)).get("/api/v1/tenants/acme/invitations/").json()
    assert [i["email"] for i in listed] == ["nobody@example.com", "carol@example.com"]
    # Another tenant's admin sees none of them, and members may not invite.
    assert (
        client_for(world.token(world.carol, world.globex))
        .get("/api/v1/tenants/acme/invitations/")
        .status_code
        == 404
    )
    member = client_for(world.token(world.bob, world.acme))
    assert (
        member.post(
            "/api/v1/tenants/acme/invitations/", {"email": "x@example.com"}, format="json"
        ).status_code
        == 403
    )


def test_an_existing_account_accepts_once(world: World) -> None:
    _, path = invite(world, "carol@example.com", role="admin")
    browser = Client()
    page = browser.get(f"/{path}")
    assert page.status_code == 200 and "Join Acme" in page.content.decode()
    browser.force_login(world.carol)
    assert browser.post(f"/{path}").status_code == 302
    membership = Membership.objects.for_tenant(world.acme).get(user=world.carol)
    assert membership.role == Role.ADMIN
    assert Invitation.objects.for_tenant(world.acme).get().status(timezone.now()) == "accepted"
    # Spent: nobody else can use it.
    other = Client()
    other.force_login(world.bob)
    assert other.post(f"/{path}").status_code == 404
    assert other.get(f"/{path}").status_code == 404


def test_a_new_person_creates_an_account_from_the_link(world: World) -> None:
    _, path = invite(world, "newbie@example.com")
    browser = Client()
    weak = browser.post(f"/{path}", {"username": "newbie", "password1": "123", "password2": "123"})
    assert weak.status_code == 400
    taken = browser.post(f"/{path}", {"username": "ALICE", "password1": PASSWORD, "password2": PASSWORD})
    assert taken.status_code == 400
    joined = browser.post(f"/{path}", {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD})
    assert joined.status_code == 302 and joined["Location"] == "/chat/"
    membership = Membership.objects.for_tenant(world.acme).select_related("user").get(user__username="newbie")
    assert membership.user.email == "newbie@example.com" and membership.role == Role.MEMBER


def test_revoked_expired_and_foreign_invitations(world: World) -> None:
    response, revoked_path = invite(world, "carol@example.com")
    owner = client_for(world.token(world.alice, world.acme))
    invitation_id = response.json()["id"]
    Membership.objects.for_tenant(world.globex).filter(user=world.carol).update(role=Role.OWNER)
    intruder = client_for(world.token(world.carol, world.globex))  # an owner, of another tenant
    assert intruder.delete(f"/api/v1/tenants/globex/invitations/{invitation_id}/").status_code == 404
    assert owner.delete(f"/api/v1/tenants/acme/invitations/{invitation_id}/").status_code == 204
    assert owner.delete("/api/v1/tenants/acme/invitations/999999/").status_code == 404
    browser = Client()
    browser.force_login(world.carol)
    assert browser.post(f"/{revoked_path}").status_code == 404

    _, expired_path = invite(world, "carol@example.com")
    Invitation.objects.for_tenant(world.acme).filter(revoked_at__isnull=True).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert browser.post(f"/{expired_path}").status_code == 404
    assert browser.get("/invitations/not-a-token/").status_code == 404
    assert not Membership.objects.for_tenant(world.acme).filter(user=world.carol).exists()
