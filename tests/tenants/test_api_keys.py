"""API keys (issue 36): made with the scopes the member's role may give, shown once, stored
hashed, acting as their member with their scopes only, in their tenant only; refused when
revoked, expired, from another address, or when their member is gone; read from
``Authorization: Bearer`` only; never able to make keys or reach platform staff's powers;
every change in the audit log with the key as the credential."""

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from tenants.api_keys import _digest
from tenants.models import ApiKey, Membership, Role
from testkit.world import World, client_for, make_user


def make_key(client: APIClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/api-keys/", {"name": "server", **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_key_is_shown_once_stored_hashed_and_acts_with_its_scopes(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    made = make_key(owner, scopes=["analytics:read", "conversations:read"])
    secret = made["key"]
    assert secret.startswith(made["prefix"] + "_") and made["status"] == "active"
    stored = ApiKey.objects.for_tenant(world.acme).get(pk=made["id"])
    assert stored.secret_hash == _digest(secret) and secret not in str(vars(stored))
    assert "key" not in owner.get("/api/v1/api-keys/").json()[0]  # never shown again

    key = client_for(secret)
    assert key.get("/api/v1/analytics/").status_code == 200
    assert key.get("/api/v1/conversations/").status_code == 200
    refused = key.get(f"/api/v1/tenants/{world.acme.slug}/config/")  # management: not its scope
    assert refused.status_code == 403 and "management" in refused.json()["detail"]
    assert key.post("/api/v1/knowledge/documents/", {}, format="json").status_code == 403
    assert key.get("/api/v1/api-keys/").status_code == 403  # a key never reaches the keys
    assert key.post("/api/v1/api-keys/", {"name": "x", "scopes": ["chat"]}, format="json").status_code == 403
    # Another tenant's slug is a 404, as for its member's token.
    assert key.get(f"/api/v1/tenants/{world.globex.slug}/members/").status_code in (403, 404)
    stored.refresh_from_db()
    assert stored.last_used_at is not None and stored.last_used_ip == "127.0.0.1"


def test_no_key_gets_more_than_its_member_may(world: World) -> None:
    member = client_for(world.token(world.bob, world.acme))
    for scopes in (["management"], ["knowledge:write"], ["analytics:read"], ["chat", "management"]):
        answer = member.post("/api/v1/api-keys/", {"name": "k", "scopes": scopes}, format="json")
        assert answer.status_code == 400 and "cannot give" in str(answer.json()["errors"]["scopes"]), (
            answer.content
        )
    for bad in ({"scopes": []}, {"scopes": ["root"]}, {"scopes": ["chat"], "allowed_addresses": ["nowhere"]},
                {"scopes": ["chat"], "expires_at": "2001-01-01T00:00:00Z"}):  # fmt: skip
        assert member.post("/api/v1/api-keys/", {"name": "k", **bad}, format="json").status_code == 400
    made = make_key(member, scopes=["chat", "conversations:read"])
    assert client_for(made["key"]).get("/api/v1/analytics/").status_code == 403
    # The owner's management key loses it all when the owner becomes a member.
    owner = client_for(world.token(world.alice, world.acme))
    managing = make_key(owner, scopes=["management"])
    assert client_for(managing["key"]).get(f"/api/v1/tenants/{world.acme.slug}/members/").status_code == 200
    Membership.objects.for_tenant(world.acme).filter(user=world.alice).update(role=Role.MEMBER)
    assert client_for(managing["key"]).get(f"/api/v1/tenants/{world.acme.slug}/members/").status_code == 403
    Membership.objects.for_tenant(world.acme).filter(user=world.alice).update(active=False)
    gone = client_for(managing["key"]).get("/api/v1/conversations/")
    assert gone.status_code == 401 and "no longer active" in gone.json()["detail"]


def test_revoked_expired_elsewhere_or_forged_keys_open_nothing(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    made = make_key(owner, scopes=["conversations:read"])
    key = client_for(made["key"])
    assert key.get("/api/v1/conversations/").status_code == 200
    forged = made["key"][:-4] + ("AAAA" if not made["key"].endswith("AAAA") else "BBBB")
    for token in (forged, "cpk_'OR'1'='1", "cpk_" + "a" * 10 + "_" + "%00" * 14 + "a", made["prefix"]):
        answer = client_for(token).get("/api/v1/conversations/")
        assert answer.status_code == 401 and answer.json()["detail"] in ("unknown API key", "not an API key")
    assert client_for("cpk_' OR 1=1 --").get("/api/v1/conversations/").status_code == 401  # not a bearer
    # Only Authorization: Bearer carries a key: every other header is ignored.
    for header in ("HTTP_X_API_KEY", "HTTP_API_KEY", "HTTP_X_AUTHORIZATION"):
        assert APIClient().get("/api/v1/conversations/", **{header: made["key"]}).status_code == 401
    assert APIClient().get(f"/api/v1/conversations/?api_key={made['key']}").status_code == 401
    # Outside the tenant endpoints a key is not read: the JWT's check refuses it.
    assert client_for(made["key"]).get("/api/v1/tenants/").status_code == 401

    assert owner.post(f"/api/v1/api-keys/{made['id']}/revoke/").status_code == 204
    revoked = key.get("/api/v1/conversations/")
    assert revoked.status_code == 401 and revoked.json()["detail"] == "this API key was revoked"

    expiring = make_key(
        owner, scopes=["conversations:read"], expires_at=(timezone.now() + timedelta(hours=1)).isoformat()
    )
    ApiKey.objects.for_tenant(world.acme).filter(pk=expiring["id"]).update(expires_at=timezone.now())
    assert (
        client_for(expiring["key"]).get("/api/v1/conversations/").json()["detail"]
        == "this API key has expired"
    )

    bound = make_key(owner, scopes=["conversations:read"], allowed_addresses=["10.0.0.0/8"])
    elsewhere = client_for(bound["key"]).get("/api/v1/conversations/")  # from 127.0.0.1
    assert elsewhere.status_code == 401 and "address" in elsewhere.json()["detail"]
    # A forwarded address is believed only from a trusted proxy (there is none here).
    spoofed = client_for(bound["key"]).get("/api/v1/conversations/", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert spoofed.status_code == 401
    home = make_key(owner, scopes=["conversations:read"], allowed_addresses=["127.0.0.0/8", "::1"])
    assert client_for(home["key"]).get("/api/v1/conversations/").status_code == 200


def test_rotation_keeps_the_settings_and_ends_the_old_secret(world: World) -> None:
    member = client_for(world.token(world.bob, world.acme))
    made = make_key(member, scopes=["chat", "conversations:read"], allowed_addresses=["127.0.0.1"])
    rotated = member.post(f"/api/v1/api-keys/{made['id']}/rotate/")
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["prefix"] != made["prefix"] and new["scopes"] == made["scopes"]
    assert new["allowed_addresses"] == ["127.0.0.1/32"]
    assert client_for(made["key"]).get("/api/v1/conversations/").status_code == 401
    assert client_for(new["key"]).get("/api/v1/conversations/").status_code == 200
    assert member.post(f"/api/v1/api-keys/{made['id']}/rotate/").status_code == 400  # revoked


def test_who_sees_and_revokes_which_keys(world: World) -> None:
    member, owner = (
        client_for(world.token(world.bob, world.acme)),
        client_for(world.token(world.alice, world.acme)),
    )
    bobs = make_key(member, scopes=["chat"])
    alices = make_key(owner, scopes=["management"])
    assert [k["id"] for k in member.get("/api/v1/api-keys/").json()] == [bobs["id"]]
    assert {k["id"] for k in owner.get("/api/v1/api-keys/").json()} == {bobs["id"], alices["id"]}
    assert member.post(f"/api/v1/api-keys/{alices['id']}/revoke/").status_code == 404
    assert owner.post(f"/api/v1/api-keys/{bobs['id']}/rotate/").status_code == 404  # only its member rotates
    carol = client_for(world.token(world.carol, world.globex))
    assert carol.get("/api/v1/api-keys/").json() == []
    assert carol.post(f"/api/v1/api-keys/{bobs['id']}/revoke/").status_code == 404
    assert owner.post(f"/api/v1/api-keys/{bobs['id']}/revoke/").status_code == 204


def test_a_staff_members_key_has_no_staff_powers(world: World) -> None:
    staff_member = make_user("sam", is_staff=True)
    Membership.objects.create(tenant=world.globex, user=staff_member, role=Role.MEMBER)
    token = client_for(world.token(staff_member, world.globex))
    made = make_key(token, scopes=["conversations:read"])
    key = client_for(made["key"])
    assert key.get(f"/api/v1/tenants/{world.acme.slug}/members/").status_code in (403, 404)
    assert key.get("/api/v1/tenants/").status_code == 401  # not a tenant endpoint: keys are not read


def test_each_key_change_is_audited_with_its_credential(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    made = make_key(owner, scopes=["management"])
    client_for(made["key"]).patch(
        f"/api/v1/tenants/{world.acme.slug}/config/", {"custom_greeting": "Hello"}, format="json"
    )
    owner.post(f"/api/v1/api-keys/{made['id']}/revoke/")
    entries = list(
        AuditEntry.objects.for_tenant(world.acme).order_by("id").values_list("action", "credential")
    )
    assert entries[0] == ("api_key.created", "token")
    assert ("settings.changed", f"key {made['prefix']}") in entries
    assert entries[-1] == ("api_key.revoked", "token")
    listed = owner.get("/api/v1/audit/").json()["results"]
    assert listed[0]["credential"] == "token" and listed[0]["action"] == "api_key.revoked"
