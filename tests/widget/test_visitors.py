"""Widget visitors over HTTP: the visitor token (anonymous, verified by the tenant's JWT), the
identity token's every way to be wrong, the new-visitor cap per address, and a visitor reading
only their own conversations (a member's credentials mean nothing here, a visitor's nothing in
the management API)."""

import time
from typing import Any

import jwt
import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tenants.models import Membership
from testkit.world import World, client_for
from widget.models import Site, Visitor
from widget.services import site_create

pytestmark = pytest.mark.django_db(transaction=True)


def site_of(world: World, **fields: Any) -> Site:
    return site_create(tenant=world.acme, fields={"name": f"Shop {time.monotonic_ns()}", **fields})


def identity(site: Site, *, secret: str | None = None, **claims: Any) -> str:
    body = {"sub": "customer-42", "name": "Dana", "email": "dana@example.com", "exp": int(time.time()) + 600}
    body.update(claims)
    present = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(present, secret or site.identity_secret, "HS256")


def soon() -> int:
    return int(time.time()) + 60


def start(site: Site, body: dict[str, Any] | None = None) -> Any:
    return APIClient().post(f"/widget/{site.key}/visitors/", body or {}, format="json")


def test_an_anonymous_visitor_gets_a_token_and_is_no_member_of_anything(world: World) -> None:
    site = site_of(world)
    answer = start(site)
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["visitor"] == {"verified": False, "name": ""}
    assert body["expires_at"] > time.time() + 170 * 86_400
    visitor = Visitor.objects.for_tenant(world.acme.pk).get()
    assert (visitor.site_id, visitor.external_id, visitor.address) == (site.pk, "", "127.0.0.1")
    user = visitor.user
    assert not user.has_usable_password() and not Membership.objects.unscoped().filter(user=user).exists()
    # Its token opens nothing in the management API, and it cannot be made into a JWT.
    assert client_for(body["token"]).get("/api/v1/conversations/").status_code == 401
    assert client_for(body["token"]).get("/api/v1/sites/").status_code == 401
    # A second visitor is another visitor.
    assert start(site).json()["token"] != body["token"]
    assert Visitor.objects.for_tenant(world.acme.pk).count() == 2


def test_a_verified_visitor_is_the_same_visitor_on_every_device(world: World) -> None:
    site = site_of(world)
    first = start(site, {"identity": identity(site)})
    assert first.status_code == 201, first.json()
    assert first.json()["visitor"] == {"verified": True, "name": "Dana"}
    # The visitor token lasts no longer than the identity it came from.
    assert first.json()["expires_at"] <= time.time() + 700
    again = start(site, {"identity": identity(site, name="Dana B.", email=None)})
    assert again.status_code == 201
    visitor = Visitor.objects.for_tenant(world.acme.pk).get()
    assert (visitor.external_id, visitor.name, visitor.email) == ("customer-42", "Dana B.", "")
    # The same sub on another site of the tenant is another visitor.
    other = site_of(world)
    assert start(other, {"identity": identity(other)}).status_code == 201
    assert Visitor.objects.for_tenant(world.acme.pk).count() == 2


@pytest.mark.parametrize(
    "case, make, why",
    [
        ("wrong secret", lambda s, o: identity(s, secret="not-this-sites-secret-but-32-bytes"), "signature"),
        ("another site's", lambda s, o: identity(o), "signature"),
        ("expired", lambda s, o: identity(s, exp=int(time.time()) - 120), "expired"),
        ("no exp", lambda s, o: identity(s, exp=None), "exp"),
        ("lives a week", lambda s, o: identity(s, exp=int(time.time()) + 7 * 86_400), "too long"),
        ("no sub", lambda s, o: identity(s, sub=None), "sub"),
        ("blank sub", lambda s, o: identity(s, sub="  "), "sub"),
        ("sub not a string", lambda s, o: identity(s, sub=42), "sub"),
        ("NUL in name", lambda s, o: identity(s, name="a\x00b"), "name"),
        ("bad email", lambda s, o: identity(s, email="not an address"), "email"),
        ("alg none", lambda s, o: jwt.encode({"sub": "x", "exp": soon()}, None, "none"), "identity"),
        ("HS512", lambda s, o: jwt.encode({"sub": "x", "exp": soon()}, "k" * 64, "HS512"), "identity"),
        ("garbage", lambda s, o: "not.a.jwt", "identity"),
        ("a number", lambda s, o: 5, "identity"),
    ],
)
def test_an_identity_token_that_is_wrong_is_refused_and_says_why(
    world: World, case: str, make: Any, why: str
) -> None:
    site, other = site_of(world), site_of(world)
    answer = start(site, {"identity": make(site, other)})
    assert answer.status_code == 401, (case, answer.json())
    assert why in answer.json()["detail"], answer.json()
    assert not Visitor.objects.for_tenant(world.acme.pk).exists()


def test_a_rotated_secret_refuses_tokens_signed_with_the_old_one(world: World) -> None:
    site = site_of(world)
    old = identity(site)
    owner = client_for(world.token(world.alice, world.acme))
    rotated = owner.post(f"/api/v1/sites/{site.pk}/rotate-secret/")
    assert rotated.status_code == 200, rotated.json()
    secret = rotated.json()["identity_secret"]
    assert secret != site.identity_secret and len(secret) >= 40
    assert start(site, {"identity": old}).status_code == 401
    assert start(site, {"identity": identity(site, secret=secret)}).status_code == 201
    # Members who only read sites never see the secret; the site's other answers never carry it.
    member = client_for(world.token(world.bob, world.acme))
    assert member.post(f"/api/v1/sites/{site.pk}/rotate-secret/").status_code == 403
    assert "identity_secret" not in owner.get(f"/api/v1/sites/{site.pk}/").json()


def test_a_site_that_requires_verification_starts_no_anonymous_visitor(world: World) -> None:
    site = site_of(world, require_verification=True)
    refused = start(site)
    assert refused.status_code == 403
    assert refused.json()["code"] == "verification_required"
    assert start(site, {"identity": identity(site)}).status_code == 201


def test_one_address_starts_only_so_many_visitors_an_hour(world: World, settings: Any) -> None:
    settings.WIDGET_NEW_VISITORS_PER_ADDRESS_PER_HOUR = 3
    site = site_of(world)
    assert [start(site).status_code for _ in range(3)] == [201, 201, 201]
    refused = start(site)
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled" and 0 < refused.json()["retry_after"] <= 3600
    assert refused.headers["Retry-After"]
    # A known verified visitor coming back is no new visitor; another site counts on its own.
    assert start(site_of(world)).status_code == 201


def test_unknown_or_disabled_sites_have_no_visitors(world: World) -> None:
    site = site_of(world, enabled=False)
    assert start(site).status_code == 404
    assert APIClient().post("/widget/site_nope/visitors/", {}, format="json").status_code == 404
    assert APIClient().post("/widget/site_\x00/visitors/", {}, format="json").status_code == 404


def test_a_visitor_reads_their_own_conversations_and_nobody_elses(world: World) -> None:
    from chat.models import Conversation, Message

    site = site_of(world)
    mine, theirs = start(site).json()["token"], start(site).json()["token"]
    me, _ = Visitor.objects.for_tenant(world.acme.pk).order_by("id")
    conversation = Conversation.objects.for_tenant(world.acme.pk).create(
        tenant=world.acme, user=me.user, title="Shipping", message_count=2
    )
    Message.objects.for_tenant(world.acme.pk).create(
        tenant=world.acme, conversation=conversation, role="user", content="Where is my parcel?"
    )
    conversations = Conversation.objects.for_tenant(world.acme.pk)
    member_conversation = conversations.create(tenant=world.acme, user=world.bob)

    def visitor(token: str | None) -> APIClient:
        client = APIClient()
        if token is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Visitor {token}")
        return client

    listed = visitor(mine).get(f"/widget/{site.key}/conversations/")
    assert [(c["id"], c["escalated"], c["handoff"]) for c in listed.json()] == [
        (conversation.pk, False, "bot")
    ]
    messages = visitor(mine).get(f"/widget/{site.key}/conversations/{conversation.pk}/messages/").json()
    assert [(m["role"], m["content"]) for m in messages] == [("user", "Where is my parcel?")]
    assert not {"model", "input_tokens", "cost_usd"} & set(messages[0])
    for token, conversation_id in ((theirs, conversation.pk), (mine, member_conversation.pk), (mine, 10**9)):
        found = visitor(token).get(f"/widget/{site.key}/conversations/{conversation_id}/messages/")
        assert found.status_code == 404, found.json()
    assert visitor(theirs).get(f"/widget/{site.key}/conversations/").json() == []
    # No token, a member's JWT, another site's visitor token: not a visitor of this site.
    other = site_of(world)
    stranger = start(other).json()["token"]
    for client in (visitor(None), visitor(world.token(world.alice, world.acme)), visitor(stranger)):
        assert client.get(f"/widget/{site.key}/conversations/").status_code == 401
    member = client_for(world.token(world.alice, world.acme))
    assert member.get(f"/widget/{site.key}/conversations/").status_code == 401
    assert get_user_model().objects.filter(username__startswith="visitor-").count() == 3
