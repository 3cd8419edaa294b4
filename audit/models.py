"""The tenant's audit log: who changed what, when, from where. Append-only: an entry is written
once and never changed or removed by the application (it goes with its tenant)."""

from typing import Any

from django.conf import settings
from django.db import models

from tenants.scoping import TenantOwnedModel


class AppendOnly(Exception):
    """An audit entry was about to be changed or deleted."""


class AuditEntry(TenantOwnedModel):
    # Who: the person (gone: null, their name stays), or no one (the platform: a task).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    # With what: "session", "token" (a JWT), "key cpk_…" (an API key's visible prefix); "" the platform.
    credential = models.CharField(max_length=40, blank=True)
    # What: ``tenants.changes.Change`` ("member.role_changed"), on whom or what ("bob"), and the
    # fields as they were and became ({"role": ["member", "admin"]}).
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=254, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-id"]
        indexes = [models.Index(fields=["tenant", "-id"], name="audit_tenant_newest")]
        verbose_name_plural = "audit entries"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnly(self.pk)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnly(self.pk)

    def __str__(self) -> str:
        return f"{self.actor_name or 'platform'}: {self.action} {self.target}"
