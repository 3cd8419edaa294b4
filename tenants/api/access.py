"""The caller's tenant, resolved once per request, and the permissions built on it."""

from typing import Any

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from tenants.models import MANAGER_ROLES, READER_ROLES, Membership
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


def actor_role(request: Request) -> str | None:
    """The caller's role in its tenant; None for platform staff (who may do what owners do)."""
    if request.user.is_staff:
        return None
    membership = request_membership(request)
    if membership is None:
        raise PermissionDenied("this endpoint needs a tenant token")
    return membership.role


def required_membership(request: Request) -> Membership:
    """The caller's membership; ``PermissionDenied`` without one (staff tokens, anonymous)."""
    membership = request_membership(request)
    if membership is None:
        raise PermissionDenied("this endpoint needs a tenant token")
    return membership


def membership_in_role(request: Request, roles: frozenset[str], *, refusal: str) -> Membership:
    """The caller's membership, when its role is one of ``roles``; else ``PermissionDenied``."""
    membership = required_membership(request)
    if membership.role not in roles:
        raise PermissionDenied(refusal)
    return membership


def managing_or_reading(request: Request, *, write: bool, subject: str) -> Membership:
    """Owners and admins manage ``subject``; viewers too read it; members do neither."""
    if write:
        return membership_in_role(request, MANAGER_ROLES, refusal=f"owners and admins manage {subject}")
    return membership_in_role(request, READER_ROLES, refusal=f"owners, admins and viewers read {subject}")


def can_manage(request: Request, tenant_id: int) -> bool:
    """Platform staff, or an owner/admin acting under that very tenant."""
    if request.user.is_staff:
        return True
    membership = request_membership(request)
    return membership is not None and membership.tenant_id == tenant_id and membership.role in MANAGER_ROLES
