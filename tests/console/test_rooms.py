"""The console's rooms (issue 34): each at its own URL under one navigation that lists the rooms
the member's role opens; owners and admins run the team and the settings, viewers read, members
and agents have no console (agents have the inbox); the old /chat/console/ lands on the overview."""

import re

from django.test import Client

from tenants.models import Membership, Role
from testkit.world import PASSWORD, World, make_user

READ = [
    "/console/",
    "/console/conversations/",
    "/console/knowledge/",
    "/console/curated/",
    "/console/tools/",
    "/console/alerts/",
    "/console/sites/",
    "/console/usage/",
]
MANAGE = ["/console/team/", "/console/settings/", "/console/integrations/", "/console/history/"]


def signed_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def navigation(page: bytes) -> list[str]:
    nav = page.decode().split('<nav class="console-nav"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'<a href="([^"]+)"', nav)


def test_each_room_has_its_url_and_the_navigation_shows_what_the_role_opens(world: World) -> None:
    owner = signed_in("alice")
    for url in READ + MANAGE:
        page = owner.get(url)
        assert page.status_code == 200, url
        assert f'href="{url}" aria-current="page"'.encode() in page.content, url
    assert navigation(owner.get("/console/").content) == [*READ[:2], "/inbox/", *READ[2:], *MANAGE]

    viewer = make_user("vera")
    Membership.objects.create(tenant=world.acme, user=viewer, role=Role.VIEWER)
    reader = signed_in("vera")
    assert all(reader.get(url).status_code == 200 for url in READ)
    assert all(reader.get(url).status_code == 403 for url in MANAGE)
    assert navigation(reader.get("/console/").content) == READ  # no inbox, team or settings

    agent = make_user("dana")
    Membership.objects.create(tenant=world.acme, user=agent, role=Role.AGENT)
    for client in (signed_in("bob"), signed_in("dana")):  # a member, an agent
        assert all(client.get(url).status_code == 403 for url in READ + MANAGE)
    assert Client().get("/console/team/").status_code == 302  # to the sign-in


def test_the_old_console_address_lands_on_the_overview(world: World) -> None:
    moved = signed_in("alice").get("/chat/console/")
    assert moved.status_code == 301 and moved["Location"] == "/console/"


def test_the_rooms_show_one_tenants_things(world: World) -> None:
    """Settings and team pages name the session's tenant only (their scripts read its API)."""
    page = signed_in("alice").get("/console/settings/").content.decode()
    assert 'data-tenant="acme"' in page and "globex" not in page.lower()
    assert "gpt-4o-mini" in page  # the price table the models are picked from
    team = signed_in("alice").get("/console/team/").content.decode()
    assert 'data-tenant="acme"' in team and '"value": "owner"' in team  # owners make owners


def test_only_owners_are_offered_the_owner_role(world: World) -> None:
    admin = make_user("adam")
    Membership.objects.create(tenant=world.acme, user=admin, role=Role.ADMIN)
    team = signed_in("adam").get("/console/team/").content.decode()
    assert '"value": "owner"' not in team and '"value": "admin"' in team
