"""JWT authentication that re-checks, on every request, the tenant the token names."""

from typing import Any

from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from tenants.selectors import active_membership


class TenantJWTAuthentication(JWTAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        tenant_slug = token.get("tenant")
        if tenant_slug is not None:
            membership = active_membership(user_id=user.pk, tenant_slug=tenant_slug)
            if membership is None:
                raise AuthenticationFailed("membership or tenant is no longer active")
            request.membership = membership  # type: ignore[attr-defined]
        return user, token
