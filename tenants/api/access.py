"""The caller's membership, resolved once per request (``tenants.api.base`` builds every tenant
endpoint on it), and the platform staff's permission."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from tenants.models import Membership
from tenants.selectors import session_membership


def request_membership(request: Request) -> Membership | None:
    """The membership the request acts under: the token's tenant (set by
    ``TenantJWTAuthentication``) or, for a logged-in browser, the tenant chosen in the session."""
    if not hasattr(request, "membership"):
        # A browser session (no token): the tenant it chose; anonymous users have no id.
        user_id = request.user.pk if request.auth is None else None
        membership = session_membership(session=request.session, user_id=user_id) if user_id else None
        request.membership = membership  # type: ignore[attr-defined]
    return request.membership  # type: ignore[attr-defined, no-any-return]


class IsPlatformStaff(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_staff)
