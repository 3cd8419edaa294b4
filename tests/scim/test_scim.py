"""SCIM 2.0 per tenant (issue 36): ``/scim/v2/<workspace>/`` with an API key of the ``scim`` scope.

scim2-tester (PyPI) runs its whole suite against the endpoint; then what it cannot know: the
tenant's people only (another tenant's ids are 404s, its users cannot be a group's members),
the filters and pages, groups giving roles, owners untouched, a deactivation closing the
person's open sockets, every call in the audit log with "scim cpk_…" as its credential, and
hostile bodies answered with SCIM errors."""

import json
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.core.wsgi import get_wsgi_application
from django.test import Client
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import Status, check_server

from audit.models import AuditEntry
from scim.models import ScimGroup, ScimUser
from tenants.api_keys import key_create
from tenants.models import Membership, Role
from testkit.world import World, client_for
from testkit.ws import TIMEOUT, closed_with, open_chat

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def scim_key(world: World, user: Any = None, scopes: tuple[str, ...] = ("scim",), tenant: Any = None) -> str:
    membership = Membership.objects.for_tenant(tenant or world.acme).get(user=user or world.alice)
    return key_create(membership=membership, name="directory", scopes=list(scopes)).secret


def call(key: str | None, method: str, path: str, body: Any = None, slug: str = "acme") -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    data = body if isinstance(body, str | bytes) else json.dumps(body) if body is not None else ""
    return Client().generic(
        method, f"/scim/v2/{slug}/{path}", data, content_type="application/scim+json", **headers
    )


def new_user(key: str, user_name: str, **extra: Any) -> dict[str, Any]:
    answer = call(key, "POST", "Users", {"schemas": [USER], "userName": user_name, **extra})
    assert answer.status_code == 201, answer.content
    assert answer["Content-Type"] == "application/scim+json"
    return answer.json()  # type: ignore[no-any-return]


def test_scim2_tester_passes(world: World) -> None:
    client = WSGISCIMClient(
        get_wsgi_application(),
        base_url="http://testserver/scim/v2/acme",
        headers={"Authorization": f"Bearer {scim_key(world)}"},
    )
    results = check_server(client)
    failed = [
        (r.title, r.resource_type, r.reason)
        for r in results
        if r.status not in (Status.SUCCESS, Status.SKIPPED)
    ]
    assert not failed
    succeeded = {(r.title, r.resource_type) for r in results if r.status == Status.SUCCESS}
    # Discovery, and creation, reads, replacement, each kind of PATCH and deletion of both kinds.
    assert len([r for r in results if r.status == Status.SUCCESS]) > 60, succeeded
    for kind in ("User", "Group"):
        for title in ("object_creation", "object_query", "object_replacement", "object_deletion"):
            assert (title, kind) in succeeded, (title, kind)


def test_a_workspace_is_reached_with_its_own_scim_key_only(world: World) -> None:
    key = scim_key(world)
    assert call(None, "GET", "Users").status_code == 401
    assert call(None, "GET", "Users")["WWW-Authenticate"].startswith("Bearer")
    assert call("cpk_aaaaaaaaaa_" + "a" * 43, "GET", "Users").status_code == 401
    assert call(world.token(world.alice, world.acme), "GET", "Users").status_code == 401  # a JWT is not a key
    assert call(scim_key(world, scopes=("management",)), "GET", "Users").status_code == 403
    # A member cannot make a SCIM key: it would make admins.
    membership = Membership.objects.for_tenant(world.acme).get(user=world.bob)
    try:
        key_create(membership=membership, name="mine", scopes=["scim"])
        raise AssertionError("a member made a scim key")
    except ValueError as refused:
        assert "scim" in str(refused)
    # Another tenant's workspace through this key, and this tenant's people through theirs: 404s.
    assert call(key, "GET", "Users", slug="globex").status_code == 404
    bob = call(key, "GET", 'Users?filter=userName eq "bob"').json()["Resources"][0]
    carol_membership = Membership.objects.for_tenant(world.globex).get(user=world.carol)
    carol_membership.role = Role.ADMIN
    carol_membership.save()
    theirs = scim_key(world, user=world.carol, tenant=world.globex)
    assert call(theirs, "GET", f"Users/{bob['id']}", slug="globex").status_code == 404
    assert call(theirs, "DELETE", f"Users/{bob['id']}", slug="globex").status_code == 404
    listed = call(theirs, "GET", "Users", slug="globex").json()
    assert [user["userName"] for user in listed["Resources"]] == ["carol"]
    group = call(
        theirs,
        "POST",
        "Groups",
        {"schemas": [GROUP], "displayName": "x", "members": [{"value": bob["id"]}]},
        slug="globex",
    )
    assert group.status_code == 400 and group.json()["scimType"] == "invalidValue"
    assert Membership.objects.for_tenant(world.acme).get(user=world.bob).active


def test_every_member_is_listed_filtered_and_paged(world: World) -> None:
    key = scim_key(world)
    for number in range(5):
        new_user(
            key, f"Person{number}@acme.test", emails=[{"value": f"p{number}@acme.test", "primary": True}]
        )
    listed = call(key, "GET", "Users?startIndex=2&count=3").json()
    assert listed["totalResults"] == 7 and listed["startIndex"] == 2 and listed["itemsPerPage"] == 3
    assert [user["userName"] for user in listed["Resources"]] == [
        "bob",
        "Person0@acme.test",
        "Person1@acme.test",
    ]
    found = call(key, "GET", 'Users?filter=userName eq "person3@ACME.test"').json()
    assert [user["userName"] for user in found["Resources"]] == ["Person3@acme.test"]
    found = call(key, "GET", 'Users?filter=emails.value co "p4@" or userName eq "alice"').json()
    assert sorted(user["userName"] for user in found["Resources"]) == ["Person4@acme.test", "alice"]
    only = call(key, "GET", "Users?count=1&attributes=userName").json()["Resources"][0]
    assert set(only) == {"schemas", "id", "userName"}
    search = call(
        key,
        "POST",
        "Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userName sw "person"',
            "count": 2,
        },
    ).json()
    assert search["totalResults"] == 5 and len(search["Resources"]) == 2
    for bad in (
        'title eq "x" and userName eq "alice"',
        "userName eq",
        "((((" * 300,
        'meta.created gt "yesterday"',
    ):
        answer = call(key, "GET", f"Users?filter={bad}")
        assert answer.status_code == 400, (bad, answer.content)
        assert answer.json()["scimType"] in ("invalidFilter", "invalidValue")
    assert call(key, "GET", "Users?count=many").status_code == 400
    assert call(key, "GET", 'Users?filter=id eq "not-an-id"').json()["totalResults"] == 0


def test_groups_give_roles_and_owners_stay_owners(world: World) -> None:
    key = scim_key(world)
    ann = new_user(key, "ann@acme.test")
    bob = call(key, "GET", 'Users?filter=userName eq "bob"').json()["Resources"][0]
    alice = call(key, "GET", 'Users?filter=userName eq "alice"').json()["Resources"][0]
    admins = call(
        key,
        "POST",
        "Groups",
        {
            "schemas": [GROUP],
            "displayName": "Chat admins",
            "members": [{"value": ann["id"]}, {"value": alice["id"]}],
        },
    ).json()
    # No group gives a role yet: the team's roles stand.
    assert Membership.objects.for_tenant(world.acme).get(user__username="ann@acme.test").role == Role.MEMBER
    api = client_for(world.token(world.alice, world.acme))
    listed = api.get("/api/v1/scim/groups/").json()
    assert [(group["display_name"], group["members"], group["role"]) for group in listed] == [
        ("Chat admins", 2, "")
    ]
    assert (
        api.patch(f"/api/v1/scim/groups/{admins['id']}/", {"role": "owner"}, format="json").status_code == 400
    )
    assert (
        client_for(world.token(world.bob, world.acme))
        .patch(f"/api/v1/scim/groups/{admins['id']}/", {"role": "admin"}, format="json")
        .status_code
        == 403
    )
    assert (
        api.patch(f"/api/v1/scim/groups/{admins['id']}/", {"role": "admin"}, format="json").status_code == 200
    )
    roles = dict(Membership.objects.for_tenant(world.acme).values_list("user__username", "role"))
    assert roles["ann@acme.test"] == Role.ADMIN and roles["alice"] == Role.OWNER
    # The provider adds bob and takes ann out: the groups decide.
    patch = {"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": bob["id"]}]},
        {"op": "remove", "path": f'members[value eq "{ann["id"]}"]'},
    ]}  # fmt: skip
    answer = call(key, "PATCH", f"Groups/{admins['id']}", patch)
    assert answer.status_code == 200, answer.content
    roles = dict(Membership.objects.for_tenant(world.acme).values_list("user__username", "role"))
    assert roles == {"alice": Role.OWNER, "bob": Role.ADMIN, "ann@acme.test": Role.MEMBER}
    # A provider never deactivates, nor removes, an owner.
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    assert call(key, "PATCH", f"Users/{alice['id']}", off).status_code == 403
    assert call(key, "DELETE", f"Users/{alice['id']}").status_code == 403
    assert Membership.objects.for_tenant(world.acme).get(user=world.alice).active
    # The group's end gives its members' roles back.
    assert call(key, "DELETE", f"Groups/{admins['id']}").status_code == 204
    assert Membership.objects.for_tenant(world.acme).get(user=world.bob).role == Role.MEMBER
    assert not ScimGroup.objects.for_tenant(world.acme).exists()
    assert api.get(f"/api/v1/scim/groups/{admins['id']}/").status_code == 404


def test_every_call_is_in_the_audit_log_with_the_scim_credential(world: World) -> None:
    key = scim_key(world)
    prefix = key[:14]
    before = AuditEntry.objects.for_tenant(world.acme).count()
    ann = new_user(key, "ann@acme.test", name={"givenName": "Ann"})
    renamed = {
        "schemas": [PATCH],
        "Operations": [
            {"op": "replace", "path": "name.familyName", "value": "Lee"},
            {"op": "replace", "path": "password", "value": "Provisioned-Pass-42"},
        ],
    }
    assert call(key, "PATCH", f"Users/{ann['id']}", renamed).status_code == 200
    assert get_user_model().objects.get(username="ann@acme.test").check_password("Provisioned-Pass-42")
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    assert call(key, "PATCH", f"Users/{ann['id']}", off).status_code == 200
    group = call(key, "POST", "Groups", {"schemas": [GROUP], "displayName": "Sales"}).json()
    assert (
        call(
            key, "PUT", f"Groups/{group['id']}", {"schemas": [GROUP], "displayName": "Sales EMEA"}
        ).status_code
        == 200
    )
    assert call(key, "DELETE", f"Groups/{group['id']}").status_code == 204
    assert call(key, "DELETE", f"Users/{ann['id']}").status_code == 204
    entries = list(AuditEntry.objects.for_tenant(world.acme).order_by("pk")[before:])
    assert [entry.action for entry in entries] == [
        "member.added", "scim.user_changed", "member.deactivated", "scim.group_created",
        "scim.group_changed", "scim.group_deleted", "member.removed",
    ]  # fmt: skip
    assert {entry.credential for entry in entries} == {f"scim {prefix}"}
    assert {entry.actor_name for entry in entries} == {"alice"}
    assert entries[1].changes == {"family_name": ["", "Lee"], "password": ["(secret)", "(changed)"]}
    assert "Provisioned-Pass-42" not in str([entry.changes for entry in entries])
    # The account the provisioning made can sign in nowhere once removed.
    account = get_user_model().objects.get(username="ann@acme.test")
    assert not account.is_active and account.last_name == "Lee"
    assert not ScimUser.objects.for_tenant(world.acme).filter(user_name="ann@acme.test").exists()


def test_hostile_bodies_get_scim_errors_and_change_nothing(world: World, settings: Any) -> None:
    key = scim_key(world)
    bob = call(key, "GET", 'Users?filter=userName eq "bob"').json()["Resources"][0]
    cases = [
        ("POST", "Users", b"{not json"),
        ("POST", "Users", "[" * 100 + "]" * 100),
        ("POST", "Users", json.dumps({"schemas": [USER], "userName": "a\u0000b"})),
        ("POST", "Users", '{"schemas": ["' + USER + '"], "userName": "\\ud800"}'),
        ("POST", "Users", json.dumps({"schemas": [USER], "userName": ["x"]})),
        ("POST", "Users", json.dumps({"schemas": [USER]})),
        ("POST", "Users", json.dumps({"schemas": [USER], "userName": "x" * 151})),
        ("POST", "Users", json.dumps({"schemas": [USER], "userName": "BOB"})),  # taken, any case
        (
            "PUT",
            f"Users/{bob['id']}",
            json.dumps({"schemas": [USER], "userName": "bob", "password": "Correct-Horse-9"}),
        ),
        ("PATCH", f"Users/{bob['id']}", json.dumps({"schemas": [PATCH], "Operations": [{"op": "explode"}]})),
        (
            "PATCH",
            f"Users/{bob['id']}",
            json.dumps({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "id", "value": "x"}]}),
        ),
        (
            "PATCH",
            f"Users/{bob['id']}",
            json.dumps(
                {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "groups", "value": []}]}
            ),
        ),
        ("GET", "Users/not-a-uuid", None),
        ("GET", "Users/00000000-0000-0000-0000-000000000000", None),
        (
            "POST",
            "Groups",
            json.dumps({"schemas": [GROUP], "displayName": "g", "members": [{"value": "../../etc"}]}),
        ),
        ("PUT", "Schemas", "{}"),
        ("POST", "Bulk", "{}"),
        ("GET", "Nothing/here", None),
    ]
    for method, path, body in cases:
        answer = call(key, method, path, body)
        assert 400 <= answer.status_code < 500 or answer.status_code == 501, (
            method,
            path,
            answer.status_code,
        )
        document = answer.json()
        assert document["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"], document
        assert document["status"] == str(answer.status_code) or int(document["status"]) == answer.status_code
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    big = call(
        key, "POST", "Users", json.dumps({"schemas": [USER], "userName": "big", "title": "x" * 20_000})
    )
    assert big.status_code == 413
    assert Membership.objects.for_tenant(world.acme).count() == 2
    assert Membership.objects.for_tenant(world.acme).get(user=world.bob).active


async def test_a_deactivation_by_scim_closes_the_persons_sockets(world: World) -> None:
    key = await database_sync_to_async(scim_key)(world)
    socket, _ = await open_chat(world.token(world.bob, world.acme))

    @database_sync_to_async
    def deactivate() -> Any:
        bob = call(key, "GET", 'Users?filter=userName eq "bob"').json()["Resources"][0]
        off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
        return call(key, "PATCH", f"Users/{bob['id']}", off)

    answer = await deactivate()
    assert answer.status_code == 200 and answer.json()["active"] is False
    await closed_with(socket, 4403)
    assert TIMEOUT
