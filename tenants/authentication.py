"""JWT authentication that re-checks, on every request, the tenant the token names and that its
sign-in has not ended (simplejwt checks the password's hash claim); API key authentication for
the tenant endpoints (``tenants.api_keys``)."""

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from tenants.api_keys import KeyInvalid, bearer_key, credential_of, key_authenticate
from tenants.logins import LOGIN_CLAIM, login_ended_already
from tenants.selectors import active_membership


class TenantJWTAuthentication(JWTAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        if login_ended_already(token.get(LOGIN_CLAIM)):
            raise AuthenticationFailed("this sign-in has ended (logout)", code="token_revoked")
        tenant_slug = token.get("tenant")
        if tenant_slug is not None:
            membership = active_membership(user_id=user.pk, tenant_slug=tenant_slug)
            if membership is None:
                raise AuthenticationFailed("membership or tenant is no longer active")
            request.membership = membership  # type: ignore[attr-defined]
        return user, token


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer cpk_…`` and nothing else: a key in any other header, a cookie or
    the query string is not read. Anything else in that header is left to the JWT's check."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        raw = bearer_key(get_authorization_header(request).decode("ascii", "replace"))
        if raw is None:
            return None
        try:
            key, membership = key_authenticate(raw, request.META.get("REMOTE_ADDR"))
        except KeyInvalid as refused:
            raise AuthenticationFailed(str(refused), code="invalid_api_key") from refused
        request.membership = membership  # type: ignore[attr-defined]
        return membership.user, credential_of(key)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class TenantJWTScheme(SimpleJWTScheme):
    """The OpenAPI schema's bearer scheme for this authentication (drf-spectacular knows only
    simplejwt's own class), so that the API docs can authorize with a token."""

    target_class = "tenants.authentication.TenantJWTAuthentication"


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """The OpenAPI schema's scheme for API keys: the same ``Authorization: Bearer`` header."""

    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "an API key (cpk_…), on the tenant endpoints its scopes open",
        }
