"""The one base of every tenant endpoint: the caller's tenant and role resolved once, before the
handler runs (Sentry's ``convert_args``), and tenant-owned rows reached only through ``scoped``
and ``owned_or_404`` (PostHog's ``safely_get_queryset``), so no view filters by tenant by hand
and another tenant's id is always a 404, never a 403 that confirms it exists.

A view says who may read (``GET``, ``HEAD``, ``OPTIONS``) and who may write (the other methods),
by role; the tenant is the one of the caller's token (or the browser session's choice), or the
one the request names (``named_tenant``: a URL's ``slug``), which platform staff may act on as
its owners do and a member of another tenant cannot tell from a missing one.

Tenant endpoints, and only they, also take an API key (``tenants.api_keys``): it acts as its
member, in its tenant, where its scopes hold the view's (``key_scope``, ``key_read_scope``);
never with platform staff's powers, even a staff member's key.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from django.core.validators import slug_re
from django.db.models import Model, QuerySet
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.settings import api_settings

from tenants.api.access import request_membership
from tenants.api_keys import KeyCredential
from tenants.authentication import ApiKeyAuthentication
from tenants.models import MANAGER_ROLES, READER_ROLES, ApiKeyScope, Role, Tenant

ALL_ROLES: frozenset[str] = frozenset(Role.values)


M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Caller:
    """Who acts, in which tenant. ``role`` None: platform staff, on the tenant the request names."""

    tenant: Tenant
    user_id: int
    role: str | None

    @property
    def tenant_id(self) -> int:
        return self.tenant.pk

    @property
    def manages(self) -> bool:
        return self.role is None or self.role in MANAGER_ROLES


def _roles_text(roles: frozenset[str]) -> str:
    names = [f"{role}s" for role in Role.values if role in roles]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


class TenantEndpoint:
    """Mixed into DRF's ``APIView`` or a generic view, before it: ``class V(TenantEndpoint, APIView)``."""

    readers: ClassVar[frozenset[str]] = READER_ROLES
    writers: ClassVar[frozenset[str]] = MANAGER_ROLES
    subject: ClassVar[str] = "this"  # what the endpoint serves, for a refusal: "the tools"
    # The scope an API key needs here to write (and to read, unless ``key_read_scope``); None:
    # no key may (the keys' own endpoints).
    key_scope: ClassVar[str | None] = ApiKeyScope.MANAGEMENT
    key_read_scope: ClassVar[str | None] = None

    authentication_classes: Sequence[type[BaseAuthentication]] = [
        ApiKeyAuthentication,
        *api_settings.DEFAULT_AUTHENTICATION_CLASSES,  # type: ignore[list-item]  # classes once loaded
    ]
    caller: Caller

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]  # authentication, throttles
        self.caller = self._caller(request, self.named_tenant(request, kwargs))

    def named_tenant(self, request: Request, kwargs: dict[str, Any]) -> str | None:
        """The slug of the tenant the request names (None: the caller's own)."""
        slug = kwargs.get("slug")
        return str(slug) if slug is not None else None

    def _caller(self, request: Request, slug: str | None) -> Caller:
        membership = request_membership(request)
        write = request.method not in SAFE_METHODS
        key = request.auth if isinstance(request.auth, KeyCredential) else None
        if key is not None:
            scope = self.key_scope if write or self.key_read_scope is None else self.key_read_scope
            if scope is None:
                raise PermissionDenied(f"API keys cannot reach {self.subject}")
            if not key.allows(scope):
                raise PermissionDenied(f"this API key lacks the '{scope}' scope")
        if slug is not None:
            if not slug_re.fullmatch(slug):  # not a slug (a NUL byte...): no such tenant
                raise NotFound
            tenant = Tenant.objects.select_related("tier").filter(slug=slug).first()
            if tenant is None:
                raise NotFound
            if request.user.is_staff and key is None:
                return Caller(tenant=tenant, user_id=request.user.pk, role=None)
            if membership is None or membership.tenant_id != tenant.pk:
                raise NotFound
        elif membership is None:
            raise PermissionDenied("this endpoint needs a tenant token")
        roles = self.writers if write else self.readers
        if membership.role not in roles:
            raise PermissionDenied(f"{_roles_text(roles)} {'change' if write else 'read'} {self.subject}")
        return Caller(tenant=membership.tenant, user_id=membership.user_id, role=membership.role)

    @property
    def tenant_id(self) -> int:
        return self.caller.tenant_id

    def scoped(self, model: type[M]) -> QuerySet[M]:
        """Every row of ``model`` in the caller's tenant: the only way a view reaches them."""
        return model.objects.for_tenant(self.caller.tenant_id)  # type: ignore[attr-defined, no-any-return]

    def owned_or_404(self, rows: type[M] | QuerySet[M], pk: Any) -> M:
        """The row ``pk`` of ``rows`` (a model, or a queryset narrowed from ``scoped``); another
        tenant's or an unknown id is a 404."""
        queryset = self.scoped(rows) if isinstance(rows, type) else rows
        found = queryset.filter(pk=pk).first()
        if found is None:
            raise NotFound
        return found


def taken_in_tenant(rows: QuerySet[M], instance: M | None, **lookup: Any) -> bool:
    """Whether a row of ``rows`` (the tenant's, from ``scoped``) other than ``instance`` matches
    ``lookup``: a uniqueness a serializer checks before the database's constraint does, so the
    answer is a 400 naming the field, not an integrity error."""
    taken = rows.filter(**lookup)
    if instance is not None:
        taken = taken.exclude(pk=instance.pk)
    return taken.exists()
