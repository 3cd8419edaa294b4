"""Single sign-on through a real OpenID provider (npm's certified oidc-provider, started here):
a first sign-in makes a member with the role its groups map to, a second finds the same account
by the provider's subject; a wrong ``state``, a replayed callback or code, an ID token for
another audience, an unverified or foreign address are refused with a page that says so; an
account whose address the platform never verified is not taken over; "SSO only" turns members'
passwords off (owners keep theirs); the connection's API (the secret written, never read)."""

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from joserfc.errors import JoseError

from audit.models import AuditEntry
from scim.models import ScimUser
from scim.resources import UserResource
from scim.services import user_create
from sso.models import Connection, Identity
from sso.provider import TenantProvider
from tenants.models import Invitation, Membership, Role
from tenants.services import member_update
from testkit.oidc_provider import OidcProvider
from testkit.world import PASSWORD, World, client_for

CALLBACK = "http://testserver/sso/acme/callback/"
OTHER_CALLBACK = "http://other.example/callback"
ACCOUNTS = {
    "ann@acme.test": {"groups": ["staff", "chat-admins"], "given_name": "Ann"},
    "dan@acme.test": {"groups": ["staff"]},
    "uma@acme.test": {"email_verified": False},
    "eve@evil.test": {},
    "bob@acme.test": {},
}


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    started = OidcProvider(
        clients=[
            {"client_id": "platform", "client_secret": "platform-secret", "redirect_uris": [CALLBACK]},
            {"client_id": "other-app", "client_secret": "other-secret", "redirect_uris": [OTHER_CALLBACK]},
        ],
        accounts=ACCOUNTS,
    )
    yield started
    started.stop()


@pytest.fixture
def connection(world: World, provider: OidcProvider, settings: Any) -> Connection:
    settings.TOOLS_ALLOW_HTTP = settings.TOOLS_ALLOW_LOOPBACK = True
    return Connection.objects.create(
        tenant=world.acme,
        issuer=provider.issuer,
        client_id="platform",
        client_secret="platform-secret",
        allowed_domains=["acme.test"],
        role_map={"chat-admins": "admin", "support": "agent"},
    )


def callback_of(browser: Client, provider: OidcProvider, login: str) -> str:
    """Start at the platform, sign in at the provider: the callback URL it sends back."""
    started = browser.get("/sso/acme/")
    assert started.status_code == 302, started.content
    return provider.sign_in(started["Location"], login, stop_at=CALLBACK)


def follow(browser: Client, callback: str) -> Any:
    parts = urlsplit(callback)
    return browser.get(parts.path, parse_qs(parts.query))


def test_a_first_sign_in_makes_a_member_with_the_mapped_role(
    connection: Connection, provider: OidcProvider
) -> None:
    browser = Client()
    answer = follow(browser, callback_of(browser, provider, "ann@acme.test"))
    assert answer.status_code == 302 and answer["Location"] == "/chat/"
    ann = get_user_model().objects.get(email="ann@acme.test")
    assert not ann.has_usable_password() and ann.first_name == "Ann"
    assert Membership.objects.for_tenant(connection.tenant_id).get(user=ann).role == Role.ADMIN
    assert Identity.objects.for_tenant(connection.tenant_id).get(user=ann).subject == "ann@acme.test"
    assert browser.get("/chat/").status_code == 200
    entry = AuditEntry.objects.for_tenant(connection.tenant_id).get(action="member.added")
    assert entry.target == ann.username and entry.changes["via"] == [None, "sso"]

    # Signing in again is the same account; the provider's groups set the role each time.
    connection.role_map = {"staff": "viewer"}
    connection.save()
    again = Client()
    assert follow(again, callback_of(again, provider, "ann@acme.test")).status_code == 302
    assert get_user_model().objects.filter(email="ann@acme.test").count() == 1
    assert Membership.objects.for_tenant(connection.tenant_id).get(user=ann).role == Role.VIEWER


def test_no_group_mapped_is_the_default_role(connection: Connection, provider: OidcProvider) -> None:
    browser = Client()
    assert follow(browser, callback_of(browser, provider, "dan@acme.test")).status_code == 302
    dan = get_user_model().objects.get(email="dan@acme.test")
    membership = Membership.objects.for_tenant(connection.tenant_id).get(user=dan)
    assert membership.role == Role.MEMBER

    # With no map the team sets the role, and a later sign-in keeps it.
    connection.role_map = {}
    connection.save()
    membership.role = Role.AGENT
    membership.save()
    again = Client()
    assert follow(again, callback_of(again, provider, "dan@acme.test")).status_code == 302
    assert Membership.objects.for_tenant(connection.tenant_id).get(user=dan).role == Role.AGENT


def test_a_wrong_state_is_refused(connection: Connection, provider: OidcProvider) -> None:
    browser = Client()
    callback = callback_of(browser, provider, "ann@acme.test")
    answer = browser.get("/sso/acme/callback/", {**parse_qs(urlsplit(callback).query), "state": "forged"})
    assert answer.status_code == 400 and b"used already or has expired" in answer.content
    assert not get_user_model().objects.filter(email="ann@acme.test").exists()


def test_a_replayed_callback_or_code_is_refused(connection: Connection, provider: OidcProvider) -> None:
    browser = Client()
    callback = callback_of(browser, provider, "ann@acme.test")
    assert follow(browser, callback).status_code == 302
    assert follow(browser, callback).status_code == 400  # its state was used

    # The code again, under a fresh state of the same browser: the provider refuses it.
    fresh = callback_of(browser, provider, "ann@acme.test")
    replayed = {**parse_qs(urlsplit(fresh).query), "code": parse_qs(urlsplit(callback).query)["code"]}
    answer = browser.get("/sso/acme/callback/", replayed)
    assert answer.status_code == 400 and b"did not sign you in" in answer.content


def test_an_id_token_for_another_audience_is_refused(connection: Connection, provider: OidcProvider) -> None:
    """A genuine ID token of the same provider, issued to another client, fails the platform's
    checks of a token for its own client (``aud``)."""
    verifier, nonce = generate_token(48), generate_token(20)
    query = {
        "client_id": "other-app",
        "response_type": "code",
        "scope": "openid email",
        "redirect_uri": OTHER_CALLBACK,
        "state": "s",
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    authorize = requests.Request("GET", f"{provider.issuer}/auth", params=query).prepare().url
    back = provider.sign_in(authorize or "", "ann@acme.test", stop_at=OTHER_CALLBACK)
    token = requests.post(
        f"{provider.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": parse_qs(urlsplit(back).query)["code"][0],
            "redirect_uri": OTHER_CALLBACK,
            "code_verifier": verifier,
        },
        auth=("other-app", "other-secret"),
        timeout=10,
    ).json()
    assert "id_token" in token
    with pytest.raises(JoseError, match="aud"):
        TenantProvider(connection).parse_id_token(token, nonce=nonce)


@pytest.mark.parametrize(
    ("login", "refusal"),
    [
        ("uma@acme.test", b"has not verified your e-mail address"),
        ("eve@evil.test", b"Addresses at evil.test may not sign in here"),
    ],
)
def test_an_unverified_or_foreign_address_is_refused(
    connection: Connection, provider: OidcProvider, login: str, refusal: bytes
) -> None:
    browser = Client()
    answer = follow(browser, callback_of(browser, provider, login))
    assert answer.status_code == 403 and refusal in answer.content
    assert not get_user_model().objects.filter(email=login).exists()
    assert not Identity.objects.for_tenant(connection.tenant_id).exists()


def test_an_account_is_joined_only_when_the_platform_verified_its_address(
    world: World, connection: Connection, provider: OidcProvider
) -> None:
    """bob@acme.test was typed on Bob's account by someone: the provider's person with that
    address gets an account of their own. Once Bob accepted an invitation sent there, it is his."""
    world.bob.email = "bob@acme.test"
    world.bob.save()
    browser = Client()
    assert follow(browser, callback_of(browser, provider, "bob@acme.test")).status_code == 302
    newcomer = get_user_model().objects.get(email="bob@acme.test", is_active=True, pk__gt=world.bob.pk)
    assert newcomer.username.startswith("bob@acme.test")
    assert Membership.objects.for_tenant(world.acme).get(user=world.bob).role == Role.MEMBER

    Identity.objects.for_tenant(world.acme).delete()
    newcomer.delete()
    Invitation.objects.create(
        tenant=world.globex,
        email="BOB@acme.test",
        token_hash="x" * 64,
        expires_at=timezone.now(),
        accepted_at=timezone.now(),
        accepted_by=world.bob,
    )
    browser = Client()
    assert follow(browser, callback_of(browser, provider, "bob@acme.test")).status_code == 302
    assert Identity.objects.for_tenant(world.acme).get().user == world.bob


def test_a_person_provisioned_by_scim_signs_in_to_their_account(
    world: World, connection: Connection, provider: OidcProvider
) -> None:
    """The tenant's directory made Dan's account (SCIM) before his first sign-in: the sign-in
    joins it (the tenant's own provider vouches for the address), and once the directory
    deactivates him he is refused, not given a second account. Another tenant's directory
    making an account for the same address does not make it this tenant's."""
    for tenant in (world.globex, world.acme):
        dan = UserResource(user_name="dan", emails=[{"value": "DAN@acme.test"}])
        user_create(tenant=tenant, resource=dan)
    made = ScimUser.objects.for_tenant(world.acme).get(user_name="dan").membership
    browser = Client()
    assert follow(browser, callback_of(browser, provider, "dan@acme.test")).status_code == 302
    assert Identity.objects.for_tenant(world.acme).get().user_id == made.user_id

    member_update(actor_role=None, membership=made, active=False)
    Identity.objects.for_tenant(world.acme).delete()
    browser = Client()
    refused = follow(browser, callback_of(browser, provider, "dan@acme.test"))
    assert refused.status_code == 403 and b"deactivated" in refused.content
    assert not Identity.objects.for_tenant(world.acme).exists()
    assert get_user_model().objects.filter(email__iexact="dan@acme.test").count() == 2  # acme's, globex's


def test_sso_only_turns_members_passwords_off_not_owners(world: World, connection: Connection) -> None:
    connection.sso_only = True
    connection.save()
    token = client_for().post(
        "/api/v1/auth/token/", {"username": "bob", "password": PASSWORD, "tenant": "acme"}, format="json"
    )
    assert token.status_code == 401
    assert not Client().login(username="bob", password=PASSWORD)
    assert Client().login(username="alice", password=PASSWORD)  # the owner: the way in if SSO fails
    assert Client().login(username="carol", password=PASSWORD)  # another tenant's member


def test_the_connection_api_writes_the_secret_and_never_reads_it(
    world: World, provider: OidcProvider, settings: Any
) -> None:
    settings.TOOLS_ALLOW_HTTP = settings.TOOLS_ALLOW_LOOPBACK = True
    owner = client_for(world.token(world.alice, world.acme))
    assert owner.get("/api/v1/sso/").status_code == 404
    body = {"issuer": provider.issuer, "client_id": "platform", "role_map": {"g": "admin"}}
    refused = owner.put("/api/v1/sso/", body, format="json")
    assert refused.status_code == 400 and "client_secret" in refused.json()["errors"]
    made = owner.put("/api/v1/sso/", {**body, "client_secret": "s3cret-value"}, format="json")
    assert made.status_code == 200, made.json()
    assert "client_secret" not in made.json() and made.json()["client_secret_set"] is True
    assert made.json()["sign_in_url"] == "/sso/acme/"
    changed = owner.put("/api/v1/sso/", {"sso_only": True, "client_secret": "another"}, format="json")
    assert changed.status_code == 200 and changed.json()["role_map"] == {"g": "admin"}
    entries = AuditEntry.objects.for_tenant(world.acme).filter(action="sso.changed").order_by("pk")
    assert entries[1].changes == {"sso_only": [False, True], "client_secret": ["(secret)", "(changed)"]}
    assert "s3cret-value" not in str([entry.changes for entry in entries])

    assert owner.put("/api/v1/sso/", {"role_map": {"g": "owner"}}, format="json").status_code == 400
    assert owner.put("/api/v1/sso/", {"role_map": {"g\x00": "admin"}}, format="json").status_code == 400
    assert owner.put("/api/v1/sso/", {"allowed_domains": ["not a domain"]}, format="json").status_code == 400
    member = client_for(world.token(world.bob, world.acme))
    assert member.get("/api/v1/sso/").status_code == 403
    Membership.objects.for_tenant(world.globex).filter(user=world.carol).update(role=Role.OWNER)
    assert client_for(world.token(world.carol, world.globex)).get("/api/v1/sso/").status_code == 404
    assert owner.delete("/api/v1/sso/").status_code == 204
    assert AuditEntry.objects.for_tenant(world.acme).filter(action="sso.removed").count() == 1


def test_a_private_issuer_is_refused(world: World, provider: OidcProvider, settings: Any) -> None:
    """Loopback is allowed in these tests only: as in production, the provider's address must be
    public, when the connection is saved and on every request the sign-in makes."""
    settings.TOOLS_ALLOW_HTTP = True
    owner = client_for(world.token(world.alice, world.acme))
    body = {"issuer": provider.issuer, "client_id": "platform", "client_secret": "s"}
    refused = owner.put("/api/v1/sso/", body, format="json")
    assert refused.status_code == 400 and "public" in str(refused.json()["errors"]["issuer"])
    Connection.objects.create(
        tenant=world.acme, issuer=provider.issuer, client_id="platform", client_secret="s"
    )
    answer = Client().get("/sso/acme/")
    assert answer.status_code == 502 and b"could not be reached" in answer.content


def test_the_sign_in_pages_answer_unknown_workspaces(world: World) -> None:
    assert Client().get("/sso/nobody/").status_code == 404
    assert Client().get("/sso/nobody/callback/", {"code": "x", "state": "y"}).status_code == 404
    found = Client().post("/sso/", {"workspace": "acme"})
    assert found.status_code == 404 and b"no single sign-on" in found.content
    assert Client().post("/sso/", {"workspace": "ac\x00me"}).status_code == 404  # hostile: no 500


def test_the_workspace_form_goes_on_by_a_refresh_not_a_redirect(connection: Connection) -> None:
    """The form posts to the platform; a redirect after it to the provider would be held by the
    pages' ``form-action 'self'``, so the answer is a page that goes on to the workspace's start."""
    found = Client().post("/sso/?next=/chat/", {"workspace": " ACME "})
    assert found.status_code == 200
    assert b'<meta http-equiv="refresh" content="0; url=/sso/acme/?next=%2Fchat%2F">' in found.content
