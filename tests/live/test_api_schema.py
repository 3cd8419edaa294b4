"""schemathesis against ``/api/schema/`` of a running platform: whatever it generates from the
OpenAPI document (valid and invalid input, as a tenant owner), the API answers without a
server error; and with an API key of each scope, no operation of another scope (or one no key
may reach) answers a 2xx."""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import schemathesis
from django.urls import resolve
from hypothesis import HealthCheck, given, settings
from rest_framework.permissions import SAFE_METHODS
from schemathesis.checks import not_a_server_error

from tenants.api.base import TenantEndpoint
from tenants.models import ApiKeyScope
from testkit.live import LivePlatform, start_platform

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    live = start_platform("production", tmp_path=Path(tmp_path_factory.mktemp("schema")), llm_url=None)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def owner_token(platform: LivePlatform) -> str:
    slug, username, password = platform.new_tenant_with_member(role="owner")
    return platform.token(username, password, slug)


def test_no_request_gets_a_server_error(platform: LivePlatform, owner_token: str) -> None:
    schema = schemathesis.openapi.from_url(f"{platform.base_url}/api/schema/")
    headers = {"Authorization": f"Bearer {owner_token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # every endpoint is documented

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        no_server_error()


def _required_scope(path: str, method: str) -> str | None:
    """The scope a key needs for this operation (``TenantEndpoint.key_scope``/``key_read_scope``);
    "" for an endpoint no key may reach; None for one that is not a tenant endpoint."""
    concrete = re.sub(r"\{[^}]+\}", "1", path)
    view = getattr(resolve(concrete).func, "cls", None)
    if view is None or not issubclass(view, TenantEndpoint):
        return None
    write = method.upper() not in SAFE_METHODS
    scope = view.key_scope if write or view.key_read_scope is None else view.key_read_scope
    return scope or ""


def test_an_api_key_opens_only_what_its_scope_does(platform: LivePlatform, owner_token: str) -> None:
    """One owner's key per scope, and every documented tenant operation generated for each: an
    operation whose scope is another (or that no key may reach) answers no 2xx."""
    schema = schemathesis.openapi.from_url(f"{platform.base_url}/api/schema/")
    operations = [result.ok() for result in schema.get_all_operations()]
    keys = {}
    for scope in ApiKeyScope.values:
        status, body = platform.http(
            "POST", "/api/v1/api-keys/", {"name": scope, "scopes": [scope]}, owner_token
        )
        assert status == 201, body
        keys[scope] = body["key"]
    opened: dict[str, set[str]] = {scope: set() for scope in keys}
    for operation in operations:
        for scope, key in keys.items():
            _run_with_key(operation, scope, key, opened[scope])
    # The run reached past the refusals: each scope opened something of its own; the scim scope
    # opens no REST operation, only the tenant's SCIM endpoints (tests/scim), and they only it.
    assert opened.pop(ApiKeyScope.SCIM) == set() and all(opened.values()), opened
    for scope, key in keys.items():
        status, _ = platform.http("GET", f"/scim/v2/{_slug(owner_token)}/Users", None, key)
        assert status == (200 if scope == ApiKeyScope.SCIM else 403), (scope, status)


def _slug(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["tenant"])


def _run_with_key(operation: Any, scope: str, key: str, opened: set[str]) -> None:
    needed = _required_scope(operation.path, operation.method)
    if needed is None:
        return  # not a tenant endpoint: it reads no key at all (tests/tenants/test_api_keys.py)

    @given(case=operation.as_strategy())
    @settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def within_scope(case: schemathesis.Case) -> None:
        response = case.call(headers={"Authorization": f"Bearer {key}"})
        if 200 <= response.status_code < 300:
            assert needed == scope, f"{operation.method} {operation.path} opened to a {scope!r} key"
            opened.add(f"{operation.method} {operation.path}")

    within_scope()
