"""Live revocation: a change of rights closes the affected chat sockets on every instance.

Removing or deactivating a membership, changing its role, deactivating a user or a tenant sends
``rights.revoked`` (once the change is committed) to the user groups concerned, through the
channel layer; each socket of those users answers with an ``ACCESS_REVOKED`` error and closes
with 4403. The push is the fast path; every message re-checks the rights too (``chat_access`` in
``chat.turns.prepare``), so a missed push cannot keep a socket chatting.

Model saves and deletes (the admin, the REST API, the shell) trigger it through signals; queryset
``update()`` calls bypass signals and rely on the per-message check.

Ended sign-ins (``tenants.logins``: a logout, a password change) close their sockets through the
same groups, with 4401: the credentials, not the rights, are what went.
"""

from typing import Any

import structlog
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save

from chat.push import key_group, user_group
from tenants.api_keys import key_login_id, key_revoked
from tenants.logins import login_ended, logins_revoked
from tenants.models import ApiKey, Membership, Tenant

log = structlog.stdlib.get_logger(__name__)


def revoke_sockets(*, tenant_id: int, user_ids: list[int]) -> None:
    """Close these users' chat sockets in that tenant, on every instance, after the commit."""
    if user_ids:
        transaction.on_commit(lambda: _push(tenant_id, user_ids))


def _push(tenant_id: int, user_ids: list[int]) -> None:
    """The users' sockets, and those their API keys opened for end users (the keys act as them)."""
    log.info("rights.revoked", tenant_id=tenant_id, users=len(user_ids))
    keys = ApiKey.objects.for_tenant(tenant_id).filter(user_id__in=user_ids, revoked_at__isnull=True)
    _push_event(
        [user_group(tenant_id=tenant_id, user_id=user_id) for user_id in user_ids]
        + [key_group(tenant_id=tenant_id, key_id=key_id) for key_id in keys.values_list("pk", flat=True)],
        {"type": "rights.revoked"},
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


def _push_event(groups: list[str], event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    assert layer is not None
    for group in groups:
        async_to_sync(layer.group_send)(group, event)


def _user_groups(user_id: int) -> list[str]:
    """The user's groups in every tenant (a user-level, deliberately cross-tenant read)."""
    tenant_ids = Membership.objects.unscoped().filter(user_id=user_id).values_list("tenant_id", flat=True)
    return [user_group(tenant_id=tenant_id, user_id=user_id) for tenant_id in tenant_ids]


def _login_ended(sender: Any, user_id: int, login_id: str, **kwargs: Any) -> None:
    """A logout (``tenants.logins``, sent after the commit): the sockets of that sign-in close
    (4401); the user's other sockets get the event and ignore it (no group per sign-in: that
    would be one more subscription per socket)."""
    log.info("login.ended", user_id=user_id)
    _push_event(_user_groups(user_id), {"type": "credentials.revoked", "login_id": login_id})


def _logins_revoked(sender: Any, user_id: int, **kwargs: Any) -> None:
    """A password change: every socket of the user closes (4401), in every tenant."""
    log.info("logins.revoked", user_id=user_id)
    _push_event(_user_groups(user_id), {"type": "credentials.revoked", "login_id": None})


def _key_revoked(sender: Any, tenant_id: int, key_id: int, **kwargs: Any) -> None:
    """An API key revoked (sent after the commit): the sockets it opened close (4401)."""
    log.info("api_key.revoked", key_id=key_id)
    _push_event(
        [key_group(tenant_id=tenant_id, key_id=key_id)],
        {"type": "credentials.revoked", "login_id": key_login_id(key_id)},
    )


def connect_signals() -> None:
    pre_save.connect(_remember_rights, sender=Membership, dispatch_uid="chat.revocation.pre")
    post_save.connect(_membership_saved, sender=Membership, dispatch_uid="chat.revocation.membership")
    post_delete.connect(_membership_deleted, sender=Membership, dispatch_uid="chat.revocation.delete")
    post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="chat.revocation.user")
    post_save.connect(_tenant_saved, sender=Tenant, dispatch_uid="chat.revocation.tenant")
    login_ended.connect(_login_ended, dispatch_uid="chat.revocation.login_ended")
    logins_revoked.connect(_logins_revoked, dispatch_uid="chat.revocation.logins_revoked")
    key_revoked.connect(_key_revoked, dispatch_uid="chat.revocation.key_revoked")
