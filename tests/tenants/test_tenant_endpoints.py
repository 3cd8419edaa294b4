"""Every REST endpoint of a tenant is built on ``tenants.api.base.TenantEndpoint``, and no
endpoint module reaches tenant-owned rows by hand: the base resolves the caller once and hands
views ``scoped`` and ``owned_or_404``."""

import ast
from pathlib import Path
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tenants.api.base import TenantEndpoint
from tenants.models import Membership, Role
from testkit.world import World, client_for, make_user

ROOT = Path(__file__).resolve().parents[2]

# Endpoints that are not about one tenant: signing in and out, and the platform's tenant list.
NOT_TENANT_ENDPOINTS = {"TokenObtainView", "TokenRefreshView", "LogoutView", "TenantListCreateView"}


def _api_views(patterns: list[Any], prefix: str = "") -> dict[str, type]:
    views: dict[str, type] = {}
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            views.update(_api_views(entry.url_patterns, route))
        elif isinstance(entry, URLPattern) and route.startswith("api/v1/"):
            view_class = getattr(entry.callback, "cls", None) or getattr(entry.callback, "view_class", None)
            assert view_class is not None, route
            views[route] = view_class
    return views


def test_every_tenant_endpoint_is_built_on_the_base() -> None:
    views = _api_views(get_resolver().url_patterns)
    assert len(views) > 30
    unscoped = {
        route: view.__name__
        for route, view in views.items()
        if not issubclass(view, TenantEndpoint) and view.__name__ not in NOT_TENANT_ENDPOINTS
    }
    assert unscoped == {}


def test_no_endpoint_module_scopes_by_hand() -> None:
    """``for_tenant`` and ``Http404`` belong to the base only: a view that filters by tenant
    itself is one that can forget to."""
    found = []
    for module in sorted(ROOT.glob("*/api/*.py")):
        if module == ROOT / "tenants" / "api" / "base.py":
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "for_tenant":
                found.append(f"{module.relative_to(ROOT)}:{node.lineno} for_tenant")
            if (isinstance(node, ast.Name) and node.id == "Http404") or (
                isinstance(node, ast.alias) and node.name == "Http404"
            ):
                found.append(f"{module.relative_to(ROOT)}:{node.lineno} Http404")
    assert found == []


@pytest.mark.django_db(transaction=True)
def test_the_base_refuses_by_role_and_hides_other_tenants(world: World) -> None:
    """A viewer reads and may not write; a member reads neither; another tenant's id, or a
    tenant named in the URL that is not the caller's, is a 404 with a JSON body."""
    vera = make_user("vera")
    Membership.objects.create(tenant=world.acme, user=vera, role=Role.VIEWER)
    viewer = client_for(world.token(vera, world.acme))
    member = client_for(world.token(world.bob, world.acme))
    assert viewer.get("/api/v1/tools/").status_code == 200
    refused = viewer.post("/api/v1/tools/", {}, format="json")
    assert refused.status_code == 403 and "change tools" in refused.json()["detail"]
    assert member.get("/api/v1/tools/").status_code == 403
    owner = client_for(world.token(world.alice, world.acme))
    assert owner.get(f"/api/v1/tenants/{world.globex.slug}/members/").status_code == 404
    assert owner.get("/api/v1/tenants/no-such-tenant/members/").status_code == 404
    missing = owner.get("/api/v1/usage/", {"tenant": "bad\x00slug"})
    assert missing.status_code == 404 and "detail" in missing.json()
