"""The chat page: login, the tenant chooser, and the tenant kept in the session."""

import pytest
from django.test import Client

from tenants.models import Membership, Role
from tenants.selectors import SESSION_TENANT_KEY
from tests.conftest import PASSWORD, World

pytestmark = pytest.mark.django_db(transaction=True)


def logged_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def test_the_page_needs_a_login(world: World) -> None:
    response = Client().get("/chat/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_user_with_one_tenant_goes_straight_to_it(world: World) -> None:
    client = logged_in("carol")
    response = client.get("/chat/")
    assert response.status_code == 200 and b"Globex" in response.content
    assert client.session[SESSION_TENANT_KEY] == "globex"


def test_a_user_with_several_tenants_chooses_and_cannot_choose_a_foreign_one(world: World) -> None:
    Membership.objects.create(tenant=world.globex, user=world.alice, role=Role.MEMBER)
    client = logged_in("alice")
    assert client.get("/chat/")["Location"] == "/chat/tenant/"
    chooser = client.get("/chat/tenant/")
    assert b"Acme" in chooser.content and b"Globex" in chooser.content
    assert client.post("/chat/tenant/", {"tenant": "initech"}).status_code == 200  # not hers: stays
    assert SESSION_TENANT_KEY not in client.session
    assert client.post("/chat/tenant/", {"tenant": "globex"})["Location"] == "/chat/"
    assert b"Globex" in client.get("/chat/").content


def test_an_inactive_tenant_is_not_offered(world: World) -> None:
    world.globex.active = False
    world.globex.save()
    client = logged_in("carol")
    response = client.get("/chat/", follow=True)
    assert b"not a member of any active workspace" in response.content
