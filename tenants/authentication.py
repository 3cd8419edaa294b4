"""JWT authentication that re-checks, on every request, the tenant the token names and that its
sign-in has not ended (simplejwt checks the password's hash claim)."""

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

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


class TenantJWTScheme(SimpleJWTScheme):
    """The OpenAPI schema's bearer scheme for this authentication (drf-spectacular knows only
    simplejwt's own class), so that the API docs can authorize with a token."""

    target_class = "tenants.authentication.TenantJWTAuthentication"
