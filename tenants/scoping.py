"""Fail-closed tenant scoping for tenant-owned models.

``Model.objects`` refuses to build a query until it is told the tenant:
``Conversation.objects.for_tenant(tenant)``. A deliberate cross-tenant query is spelled
``.unscoped()`` so that it stands out in review. The plain ``all_tenants`` manager exists for
the framework (admin, related-object access, validation) and is the model's default manager;
application code never uses it directly.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from django.db import models

from infra.db import insert_rows

M = TypeVar("M", bound=models.Model)


class TenantScopeError(RuntimeError):
    """A tenant-owned model was queried without naming the tenant."""


class TenantScopedManager(models.Manager[M]):
    def get_queryset(self) -> models.QuerySet[M]:
        raise TenantScopeError(
            f"{self.model.__name__}.objects needs .for_tenant(tenant) (or an explicit .unscoped())"
        )

    def for_tenant(self, tenant: models.Model | int) -> models.QuerySet[M]:
        """``tenant``: a Tenant or its id (typed as any model: this module is below the models)."""
        tenant_id = tenant if isinstance(tenant, int) else tenant.pk
        if tenant_id is None:
            raise TenantScopeError("for_tenant() needs a saved tenant")
        return super().get_queryset().filter(tenant_id=tenant_id)

    def unscoped(self) -> models.QuerySet[M]:
        return super().get_queryset()

    def create(self, **kwargs: Any) -> M:  # type: ignore[override]
        if kwargs.get("tenant") is None and kwargs.get("tenant_id") is None:
            raise TenantScopeError(f"{self.model.__name__} needs a tenant")
        return super().get_queryset().create(**kwargs)

    def bulk_create(self, objs: Iterable[M], **kwargs: Any) -> list[M]:  # type: ignore[override]
        objs = list(objs)  # a generator would be used up by the check below
        if any(getattr(obj, "tenant_id", None) is None for obj in objs):
            raise TenantScopeError(f"every {self.model.__name__} needs a tenant")
        return super().get_queryset().bulk_create(objs, **kwargs)

    def insert_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """``infra.db.insert_rows``: ``bulk_create``'s writes for the hot path, each row
        naming its tenant like every object given to ``bulk_create``."""
        if any(row.get("tenant_id") is None for row in rows):
            raise TenantScopeError(f"every {self.model.__name__} needs a tenant")
        insert_rows(self.model, rows)


class TenantOwnedModel(models.Model):
    """Abstract base: a ``tenant`` foreign key and the fail-closed manager."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")

    objects: TenantScopedManager[Any] = TenantScopedManager()
    all_tenants = models.Manager()

    class Meta:
        abstract = True
        default_manager_name = "all_tenants"
