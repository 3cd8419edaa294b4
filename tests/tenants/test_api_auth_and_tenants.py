"""REST: the JWT pair naming a tenant, staff-only tenant creation, members, 404 isolation."""

from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tenants.models import Membership, Role
from testkit.world import PASSWORD, World, client_for, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def obtain(**body: Any) -> Any:
    return client_for().post("/api/v1/auth/token/", body, format="json")


def test_token_pair_carries_the_tenant_for_an_active_member(world: World) -> None:
    response = obtain(username="alice", password=PASSWORD, tenant="acme")
    assert response.status_code == 200
    assert response.json()["role"] == "owner"
    access = AccessToken(response.json()["access"])
    assert access["tenant"] == "acme" and int(access["user_id"]) == world.alice.pk


@pytest.mark.parametrize(
    "body, status",
    [
        ({"username": "alice", "password": "wrong", "tenant": "acme"}, 401),
        ({"username": "alice", "password": PASSWORD, "tenant": "globex"}, 401),
        ({"username": "alice", "password": PASSWORD, "tenant": "nope"}, 401),
        ({"username": "alice", "password": PASSWORD}, 400),
        ({"username": "alice"}, 400),
    ],
)
def test_token_refusals_are_json_4xx(world: World, body: dict[str, Any], status: int) -> None:
    response = obtain(**body)
    assert response.status_code == status
    assert set(response.json()) >= {"detail", "code"}


def test_inactive_tenant_or_membership_gets_no_token_and_no_refresh(world: World) -> None:
    pair = obtain(username="bob", password=PASSWORD, tenant="acme").json()
    assert (
        client_for()
        .post("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
        .status_code
        == 200
    )
    Membership.objects.for_tenant(world.acme).filter(user=world.bob).update(active=False)
    assert obtain(username="bob", password=PASSWORD, tenant="acme").status_code == 401
    assert (
        client_for()
        .post("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
        .status_code
        == 401
    )
    # The access token already issued stops working too.
    assert client_for(pair["access"]).get("/api/v1/tenants/").status_code == 401


def test_staff_token_without_tenant_creates_tenants_and_members(world: World) -> None:
    pair = obtain(username="root", password=PASSWORD).json()
    assert pair["tenant"] is None
    staff = client_for(pair["access"])
    created = staff.post(
        "/api/v1/tenants/", {"slug": "initech", "name": "Initech", "tier": "enterprise"}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["tier"] == "enterprise" and created.json()["active"] is True
    member = staff.post(
        "/api/v1/tenants/initech/members/",
        {
            "username": "peter",
            "email": "peter@initech.example",
            "password": "tps-report-cover-9",
            "role": "admin",
        },
        format="json",
    )
    assert member.status_code == 201, member.json()
    assert member.json()["role"] == "admin"
    token = obtain(username="peter", password="tps-report-cover-9", tenant="initech")
    assert token.status_code == 200
    assert (
        staff.post("/api/v1/tenants/initech/members/", {"username": "peter"}, format="json").status_code
        == 400
    )
    assert {t["slug"] for t in staff.get("/api/v1/tenants/").json()} == {"acme", "globex", "initech"}


def test_tenant_creation_is_validated_and_staff_only(world: World) -> None:
    staff = client_for(world.token(world.staff, None))
    assert (
        staff.post(
            "/api/v1/tenants/", {"slug": "x", "name": "X", "tier": "platinum"}, format="json"
        ).status_code
        == 400
    )
    assert (
        staff.post(
            "/api/v1/tenants/", {"slug": "acme", "name": "A", "tier": "free"}, format="json"
        ).status_code
        == 400
    )
    owner = client_for(world.token(world.alice, world.acme))
    assert (
        owner.post(
            "/api/v1/tenants/", {"slug": "mine", "name": "M", "tier": "free"}, format="json"
        ).status_code
        == 403
    )


def test_tenant_owners_manage_their_own_members_only(world: World) -> None:
    owner = client_for(world.token(world.alice, world.acme))
    added = owner.post(
        "/api/v1/tenants/acme/members/", {"username": "dave", "password": "dave-password-77"}, format="json"
    )
    assert added.status_code == 201 and added.json()["role"] == "member"
    assert [m["username"] for m in owner.get("/api/v1/tenants/acme/members/").json()] == [
        "alice",
        "bob",
        "dave",
    ]
    assert [t["slug"] for t in owner.get("/api/v1/tenants/").json()] == ["acme"]
    # Another tenant is invisible: 404, never 403.
    assert owner.get("/api/v1/tenants/globex/members/").status_code == 404
    assert (
        owner.post("/api/v1/tenants/globex/members/", {"username": "eve"}, format="json").status_code == 404
    )
    # A plain member may not add members.
    member = client_for(world.token(world.bob, world.acme))
    assert member.post("/api/v1/tenants/acme/members/", {"username": "eve"}, format="json").status_code == 403


def test_an_existing_account_is_never_bound_nor_described_by_another_tenants_admin(
    world: World, settings: Any
) -> None:
    """Members are created, never taken over: an existing username (another tenant's here) is a
    400 that shows nothing of the account and binds nothing; repeated, it is throttled."""
    owner = client_for(world.token(world.alice, world.acme))
    taken = owner.post(
        "/api/v1/tenants/acme/members/", {"username": "Carol", "password": "hijacked-pass-123"}, format="json"
    )
    assert taken.status_code == 400 and "invitation" in taken.json()["errors"]["username"][0]
    assert "carol@example.com" not in taken.content.decode()
    assert not Membership.objects.for_tenant(world.acme).filter(user=world.carol).exists()
    world.carol.refresh_from_db()
    assert world.carol.check_password(PASSWORD)
    for _ in range(settings.USERNAME_TAKEN_PER_ACTOR - 1):
        assert (
            owner.post("/api/v1/tenants/acme/members/", {"username": "bob"}, format="json").status_code == 400
        )
    throttled = owner.post(
        "/api/v1/tenants/acme/members/", {"username": "fresh", "password": "fresh-password-77"}, format="json"
    )
    assert throttled.status_code == 429 and throttled.json()["retry_after"] > 0


def test_only_owners_make_owners(world: World) -> None:
    admin = make_user("adam")
    Membership.objects.create(tenant=world.acme, user=admin, role=Role.ADMIN)
    as_admin = client_for(world.token(admin, world.acme))
    body = {"username": "boss", "password": "boss-password-77", "role": "owner"}
    assert as_admin.post("/api/v1/tenants/acme/members/", body, format="json").status_code == 403
    invite = {"email": "boss@example.com", "role": "owner"}
    assert as_admin.post("/api/v1/tenants/acme/invitations/", invite, format="json").status_code == 403
    owner = client_for(world.token(world.alice, world.acme))
    assert owner.post("/api/v1/tenants/acme/members/", body, format="json").status_code == 201


def test_weak_passwords_and_anonymous_calls_are_4xx_json(world: World) -> None:
    staff = client_for(world.token(world.staff, None))
    weak = staff.post("/api/v1/tenants/acme/members/", {"username": "weak", "password": "123"}, format="json")
    assert weak.status_code == 400 and "password" in weak.json()["errors"]
    anonymous = client_for().get("/api/v1/tenants/")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "not_authenticated"
    assert client_for("garbage").get("/api/v1/tenants/").status_code == 401


def test_a_browser_session_acts_under_the_tenant_chosen_in_it(world: World) -> None:
    browser = client_for()
    assert browser.login(username="alice", password=PASSWORD)
    session = browser.session
    session["chat_tenant"] = "acme"
    session.save()
    assert [t["slug"] for t in browser.get("/api/v1/tenants/").json()] == ["acme"]
    assert browser.get("/api/v1/tenants/acme/members/").status_code == 200
    assert browser.get("/api/v1/tenants/globex/members/").status_code == 404


def test_openapi_schema_and_docs_are_served(world: World) -> None:
    schema = client_for().get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/auth/token/" in schema.content
    assert client_for().get("/api/docs/").status_code == 200
