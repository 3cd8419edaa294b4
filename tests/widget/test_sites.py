"""``/api/v1/sites/``: a tenant's widget sites over REST: roles, another tenant's ids, the
public key, and every field's bounds (allowed domains above all: what a careless entry could
widen to every website is refused)."""

from typing import Any

import pytest

from tenants.models import Membership, Role
from testkit.world import World, client_for, make_user
from widget.services import MAX_SITES

pytestmark = pytest.mark.django_db(transaction=True)


def owner(world: World) -> Any:
    return client_for(world.token(world.alice, world.acme))


def test_an_owner_makes_a_site_with_a_key_of_its_own_and_domains_normalized(world: World) -> None:
    created = owner(world).post(
        "/api/v1/sites/",
        {"name": "Shop", "allowed_domains": [" Shop.Example.com. ", "*.example.org", "localhost:8080"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    site = created.json()
    assert site["key"].startswith("site_") and len(site["key"]) > 20
    assert site["allowed_domains"] == ["shop.example.com", "*.example.org", "localhost:8080"]
    assert (site["enabled"], site["position"], site["theme"], site["language"]) == (
        True,
        "right",
        "auto",
        "en",
    )
    other = owner(world).post("/api/v1/sites/", {"name": "Blog"}, format="json").json()
    assert other["key"] != site["key"]
    # The key is the platform's: a client cannot choose or change it.
    changed = owner(world).patch(
        f"/api/v1/sites/{site['id']}/", {"key": "site_mine", "color": "#112233"}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["key"] == site["key"]
    assert changed.json()["color"] == "#112233"
    assert [s["name"] for s in owner(world).get("/api/v1/sites/").json()] == ["Blog", "Shop"]
    assert owner(world).delete(f"/api/v1/sites/{site['id']}/").status_code == 204
    assert owner(world).get(f"/api/v1/sites/{site['id']}/").status_code == 404


@pytest.mark.parametrize(
    "field, value",
    [
        ("allowed_domains", ["*"]),
        ("allowed_domains", ["*.com"]),
        ("allowed_domains", ["https://shop.example.com"]),
        ("allowed_domains", ["shop.example.com/path"]),
        ("allowed_domains", ["shop example.com"]),
        ("allowed_domains", ["bücher.de"]),
        ("allowed_domains", ["shop.example.com:70000"]),
        ("allowed_domains", ["-shop.example.com"]),
        ("allowed_domains", [5]),
        ("allowed_domains", "shop.example.com"),
        ("allowed_domains", ["a.example.com", "A.example.com"]),
        ("allowed_domains", [f"s{n}.example.com" for n in range(51)]),
        ("color", "red"),
        ("logo_url", "http://cdn.example.com/logo.png"),
        ("starter_prompts", ["one", "two", "three", "four", "five"]),
        ("starter_prompts", [""]),
        ("starter_prompts", ["x" * 101]),
        ("position", "top"),
        ("language", "xx"),
        ("name", ""),
    ],
)
def test_a_field_out_of_its_bounds_is_a_400_naming_it(world: World, field: str, value: Any) -> None:
    refused = owner(world).post("/api/v1/sites/", {"name": "Shop", field: value}, format="json")
    assert refused.status_code == 400, refused.json()
    assert field in refused.json()["errors"]


def test_names_are_unique_in_a_tenant_and_sites_are_capped(world: World) -> None:
    client = owner(world)
    # Text PostgreSQL cannot store is refused with the body, before any field is read.
    nul = client.post("/api/v1/sites/", {"name": "Shop", "allowed_domains": ["a.com\x00"]}, format="json")
    assert nul.status_code == 400 and nul.json()["code"] == "parse_error"
    assert client.post("/api/v1/sites/", {"name": "Shop"}, format="json").status_code == 201
    taken = client.post("/api/v1/sites/", {"name": "Shop"}, format="json")
    assert taken.status_code == 400 and "name" in taken.json()["errors"]
    # Another tenant may use the same name.
    globex_owner = make_user("gina")
    Membership.objects.create(tenant=world.globex, user=globex_owner, role=Role.OWNER)
    other = client_for(world.token(globex_owner, world.globex))
    assert other.post("/api/v1/sites/", {"name": "Shop"}, format="json").status_code == 201
    for n in range(MAX_SITES - 1):
        assert client.post("/api/v1/sites/", {"name": f"Site {n}"}, format="json").status_code == 201
    refused = client.post("/api/v1/sites/", {"name": "One too many"}, format="json")
    assert refused.status_code == 409 and str(MAX_SITES) in refused.json()["detail"]


def test_viewers_read_members_do_not_and_another_tenants_site_is_a_404(world: World) -> None:
    site = owner(world).post("/api/v1/sites/", {"name": "Shop"}, format="json").json()
    vera = make_user("vera")
    Membership.objects.create(tenant=world.acme, user=vera, role=Role.VIEWER)
    viewer = client_for(world.token(vera, world.acme))
    assert viewer.get(f"/api/v1/sites/{site['id']}/").json()["key"] == site["key"]
    assert viewer.patch(f"/api/v1/sites/{site['id']}/", {"name": "X"}, format="json").status_code == 403
    member = client_for(world.token(world.bob, world.acme))
    assert member.get("/api/v1/sites/").status_code == 403
    carol = client_for(world.token(world.carol, world.globex))  # a member elsewhere
    gina = make_user("gina")
    Membership.objects.create(tenant=world.globex, user=gina, role=Role.OWNER)
    stranger = client_for(world.token(gina, world.globex))
    for method in ("get", "patch", "delete"):
        assert getattr(stranger, method)(f"/api/v1/sites/{site['id']}/").status_code == 404
    assert stranger.get("/api/v1/sites/").json() == []
    assert carol.get("/api/v1/sites/").status_code == 403
