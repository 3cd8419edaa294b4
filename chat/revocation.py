"""Live revocation: a change of rights closes the affected chat sockets on every instance.

Removing or deactivating a membership, changing its role, deactivating a user or a tenant sends
``rights.revoked`` (once the change is committed) to the user groups concerned, through the
channel layer; each socket of those users answers with an ``ACCESS_REVOKED`` error and closes
with 4403. The push is the fast path; every message re-checks the rights too (``chat_role`` in
``chat.turns.prepare``), so a missed push cannot keep a socket chatting.

Model saves and deletes (the admin, the REST API, the shell) trigger it through signals; queryset
``update()`` calls bypass signals and rely on the per-message check.
"""

from typing import Any

import structlog
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save

from chat.push import user_group
from tenants.models import Membership, Tenant

log = structlog.stdlib.get_logger(__name__)


def revoke_sockets(*, tenant_id: int, user_ids: list[int]) -> None:
    """Close these users' chat sockets in that tenant, on every instance, after the commit."""
    if user_ids:
        transaction.on_commit(lambda: _push(tenant_id, user_ids))


def _push(tenant_id: int, user_ids: list[int]) -> None:
    layer = get_channel_layer()
    assert layer is not None
    log.info("rights.revoked", tenant_id=tenant_id, users=len(user_ids))
    for user_id in user_ids:
        async_to_sync(layer.group_send)(
            user_group(tenant_id=tenant_id, user_id=user_id), {"type": "rights.revoked"}
        )


def _remember_rights(sender: type[Membership], instance: Membership, **kwargs: Any) -> None:
    """The rights before the save, to tell a change from a plain save."""
    previous = (
        Membership.objects.for_tenant(instance.tenant_id)
        .filter(pk=instance.pk)
        .values("role", "active")
        .first()
    )
    instance._rights_before = previous  # type: ignore[attr-defined]


def _membership_saved(sender: type[Membership], instance: Membership, created: bool, **kwargs: Any) -> None:
    before = getattr(instance, "_rights_before", None)
    if created or before is None:
        return
    if before != {"role": instance.role, "active": instance.active}:
        revoke_sockets(tenant_id=instance.tenant_id, user_ids=[instance.user_id])


def _membership_deleted(sender: type[Membership], instance: Membership, **kwargs: Any) -> None:
    revoke_sockets(tenant_id=instance.tenant_id, user_ids=[instance.user_id])


def _user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created or instance.is_active:
        return
    # A user-level change: every tenant the user belongs to (a deliberate cross-tenant read).
    for tenant_id in Membership.objects.unscoped().filter(user=instance).values_list("tenant_id", flat=True):
        revoke_sockets(tenant_id=tenant_id, user_ids=[instance.pk])


def _tenant_saved(sender: type[Tenant], instance: Tenant, created: bool, **kwargs: Any) -> None:
    if created or instance.active:
        return
    members = Membership.objects.for_tenant(instance).values_list("user_id", flat=True)
    revoke_sockets(tenant_id=instance.pk, user_ids=list(members))


def connect_signals() -> None:
    pre_save.connect(_remember_rights, sender=Membership, dispatch_uid="chat.revocation.pre")
    post_save.connect(_membership_saved, sender=Membership, dispatch_uid="chat.revocation.membership")
    post_delete.connect(_membership_deleted, sender=Membership, dispatch_uid="chat.revocation.delete")
    post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="chat.revocation.user")
    post_save.connect(_tenant_saved, sender=Tenant, dispatch_uid="chat.revocation.tenant")
