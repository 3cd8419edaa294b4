"""Writes to a tenant's HTTP tools. Every change moves the tenant's config version, so that the
chat config (which carries the tools) and the caches keyed by it follow."""

from typing import Any

from django.db import transaction
from django.db.models import F

from tenants.changes import Change, shown, tell_changed, tell_gone, tell_made
from tenants.models import Tenant
from tenants.selectors import forget_chat_configs
from tools.models import Tool


def _config_changed(tenant_id: int) -> None:
    Tenant.objects.filter(pk=tenant_id).update(config_version=F("config_version") + 1)
    transaction.on_commit(forget_chat_configs)


# What the audit log shows of a tool (its secret only as changed).
_SHOWN = ["name", "description", "url", "method", "parameters", "timeout_s"]


def _shown(tool: Tool) -> dict[str, Any]:
    return shown(tool, _SHOWN, secrets=["secret"])


@transaction.atomic
def tool_create(*, tenant: Tenant, fields: dict[str, Any]) -> Tool:
    tool = Tool.objects.for_tenant(tenant.pk).create(tenant=tenant, **fields)
    tell_made(tenant_id=tenant.pk, change=Change.TOOL_CREATED, target=tool.name, now=_shown(tool))
    _config_changed(tenant.pk)
    return tool


@transaction.atomic
def tool_update(*, tool: Tool, fields: dict[str, Any]) -> Tool:
    before = _shown(tool)
    for name, value in fields.items():
        setattr(tool, name, value)
    tool.save()
    tell_changed(
        tenant_id=tool.tenant_id,
        change=Change.TOOL_CHANGED,
        target=tool.name,
        before=before,
        after=_shown(tool),
    )
    _config_changed(tool.tenant_id)
    return tool


@transaction.atomic
def tool_delete(*, tool: Tool) -> None:
    """The tool goes, and its name from the tenant's ``allowed_tools``."""
    tenant = Tenant.objects.select_for_update().get(pk=tool.tenant_id)
    if tool.name in tenant.allowed_tools:
        Tenant.objects.filter(pk=tenant.pk).update(
            allowed_tools=[name for name in tenant.allowed_tools if name != tool.name]
        )
    tell_gone(tenant_id=tenant.pk, change=Change.TOOL_DELETED, target=tool.name, was=_shown(tool))
    tool.delete()
    _config_changed(tenant.pk)
