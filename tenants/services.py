"""Writes about tenants and their members."""

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from tenants.models import Membership, Role, Tenant, Tier


class AlreadyMember(Exception):
    pass


def tenant_create(*, slug: str, name: str, tier: Tier) -> Tenant:
    return Tenant.objects.create(slug=slug, name=name, tier=tier)


@transaction.atomic
def member_add(*, tenant: Tenant, username: str, email: str, password: str | None, role: Role) -> Membership:
    """Add a user to a tenant, creating the user when the username is new.

    An existing user keeps their password: adding someone to a tenant must never let the
    adder take over an account that other tenants rely on.
    """
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user = user_model(username=username, email=email)
        validate_password(password or "", user)
        user.set_password(password)
        user.save()
    if Membership.objects.for_tenant(tenant).filter(user=user).exists():
        raise AlreadyMember(username)
    return Membership.objects.create(tenant=tenant, user=user, role=role)


class LastOwner(Exception):
    """The change would leave the tenant without an active owner."""


class OwnersOnly(Exception):
    """Only owners (and platform staff) make, change or remove owners."""


def _check_member_change(*, actor_role: str | None, membership: Membership, role: str, active: bool) -> None:
    """``actor_role`` None: platform staff. Locks the tenant's owner rows, so two concurrent
    demotions cannot both pass the last-owner check."""
    touches_owner = membership.role == Role.OWNER or role == Role.OWNER
    if touches_owner and actor_role not in (None, Role.OWNER):
        raise OwnersOnly
    if membership.role == Role.OWNER and (role != Role.OWNER or not active):
        owners = list(
            Membership.objects.for_tenant(membership.tenant_id)
            .select_for_update()
            .filter(role=Role.OWNER, active=True)
            .values_list("pk", flat=True)
        )
        if owners == [membership.pk]:
            raise LastOwner


@transaction.atomic
def member_update(
    *, actor_role: str | None, membership: Membership, role: str | None = None, active: bool | None = None
) -> Membership:
    """Change a member's role or (de)activate them. Their open chat sockets close (4403) once
    committed (``chat.revocation``), and they reconnect with their new rights, if any."""
    new_role = role if role is not None else membership.role
    new_active = active if active is not None else membership.active
    _check_member_change(actor_role=actor_role, membership=membership, role=new_role, active=new_active)
    membership.role, membership.active = new_role, new_active
    membership.save(update_fields=["role", "active"])
    return membership


@transaction.atomic
def member_remove(*, actor_role: str | None, membership: Membership) -> None:
    """Remove a member from the tenant (their account stays; their conversations stay with the
    tenant); their open chat sockets close."""
    _check_member_change(actor_role=actor_role, membership=membership, role="", active=False)
    membership.delete()
