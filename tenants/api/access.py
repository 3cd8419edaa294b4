"""The caller's tenant, resolved once per request, and the permissions built on it."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from tenants.models import MANAGER_ROLES, Membership


def request_membership(request: Request) -> Membership | None:
    """The membership the token (or, for the chat page's session, the session) acts under."""
    return getattr(request, "membership", None)


class IsPlatformStaff(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_staff)


def can_manage(request: Request, tenant_id: int) -> bool:
    """Platform staff, or an owner/admin acting under that very tenant."""
    if request.user.is_staff:
        return True
    membership = request_membership(request)
    return membership is not None and membership.tenant_id == tenant_id and membership.role in MANAGER_ROLES
