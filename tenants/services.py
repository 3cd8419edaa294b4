"""Writes about tenants and their members."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from tenants import attempts
from tenants.changes import Change, differences, tell
from tenants.models import SECRET_FIELDS, Membership, Role, Tenant, Tier


class AlreadyMember(Exception):
    pass


@transaction.atomic
def tenant_create(*, slug: str, name: str, tier: Tier) -> Tenant:
    tenant = Tenant.objects.create(slug=slug, name=name, tier=tier)
    tell(tenant_id=tenant.pk, change=Change.TENANT_CREATED, target=name, changes={"tier": [None, tier.slug]})
    return tenant


def config_changed(*, tenant_id: int, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Tell what a change of the tenant's configuration changed: the fields as they were and
    are, a secret one (``SECRET_FIELDS``) as changed, never its value."""
    changed: dict[str, Any] = differences(before, after)
    changed |= {field: ["(secret)", "(changed)"] for field in SECRET_FIELDS & changed.keys()}
    if changed:
        tell(tenant_id=tenant_id, change=Change.SETTINGS_CHANGED, target="settings", changes=changed)


def may_grant(*, actor_role: str | None, role: str) -> bool:
    """Only owners (and platform staff: ``actor_role`` None) make owners, whether by creating an
    account, inviting one or changing a role."""
    return role != Role.OWNER or actor_role in (None, Role.OWNER)


def unused_username(wanted: str, suffix: str) -> str:
    """``wanted`` as a new account's username, or, when another account has it (in any case) or
    it is too long, its start with ``suffix``: for the accounts a tenant's identity provider makes
    (SSO, SCIM), which must not tell it anything about other tenants' accounts."""
    limit = get_user_model()._meta.get_field("username").max_length or 150
    if len(wanted) <= limit and not get_user_model().objects.filter(username__iexact=wanted).exists():
        return wanted
    return f"{wanted[: limit - len(suffix) - 1]}.{suffix}"


class UsernameTaken(Exception):
    """The username belongs to an account already: it joins by invitation, with its consent."""


class TooManyTaken(Exception):
    """The admin met too many taken usernames lately (``tenants.attempts``)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@transaction.atomic
def member_add(
    *, tenant: Tenant, username: str, email: str, password: str | None, role: Role, actor_id: int
) -> Membership:
    """Create a new account and its membership of the tenant.

    Only new accounts: an existing one (maybe another tenant's) is never bound to a tenant, nor
    described, by someone else; it joins by accepting an invitation (``tenants.invitations``).
    "Taken" tells that a username exists, so ``actor_id`` may meet it only so often.
    """
    wait = attempts.username_taken_retry_after(actor_id)
    if wait is not None:
        raise TooManyTaken(wait)
    user_model = get_user_model()
    if user_model.objects.filter(username__iexact=username).exists():
        attempts.username_found_taken(actor_id)
        raise UsernameTaken(username)
    user = user_model(username=username, email=email)
    validate_password(password or "", user)
    user.set_password(password)
    user.save()
    tell(tenant_id=tenant.pk, change=Change.MEMBER_ADDED, target=username, changes={"role": [None, role]})
    return Membership.objects.create(tenant=tenant, user=user, role=role)


class LastOwner(Exception):
    """The change would leave the tenant without an active owner."""


class OwnersOnly(Exception):
    """Only owners (and platform staff) make, change or remove owners."""


def _check_member_change(*, actor_role: str | None, membership: Membership, role: str, active: bool) -> None:
    """``actor_role`` None: platform staff. Locks the tenant's owner rows, so two concurrent
    demotions cannot both pass the last-owner check."""
    if not may_grant(actor_role=actor_role, role=membership.role) or not may_grant(
        actor_role=actor_role, role=role
    ):
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


_UNCHANGED: Any = object()


@transaction.atomic
def member_update(
    *,
    actor_role: str | None,
    membership: Membership,
    role: str | None = None,
    active: bool | None = None,
    monthly_token_budget: Any = _UNCHANGED,
) -> Membership:
    """Change a member's role or (de)activate them (their open chat sockets close, 4403, once
    committed: ``chat.revocation``, and they reconnect with their new rights, if any), or set
    their own monthly token budget (None: the tenant's default for members)."""
    new_role = role if role is not None else membership.role
    new_active = active if active is not None else membership.active
    _check_member_change(actor_role=actor_role, membership=membership, role=new_role, active=new_active)
    fields = ["role", "active"] + (["monthly_token_budget"] if monthly_token_budget is not _UNCHANGED else [])
    before = {field: getattr(membership, field) for field in fields}
    membership.role, membership.active = new_role, new_active
    if monthly_token_budget is not _UNCHANGED:
        membership.monthly_token_budget = monthly_token_budget
    membership.save(update_fields=fields)
    changed = differences(before, {field: getattr(membership, field) for field in fields})
    if changed:
        tell(
            tenant_id=membership.tenant_id,
            change=_member_change(changed),
            target=membership.user.get_username(),
            changes=changed,
        )
    return membership


def _member_change(changed: dict[str, Any]) -> Change:
    """What a member's change is called, the weightiest first (all its fields are recorded)."""
    if "active" in changed:
        return Change.MEMBER_REACTIVATED if changed["active"][1] else Change.MEMBER_DEACTIVATED
    return Change.MEMBER_ROLE_CHANGED if "role" in changed else Change.MEMBER_BUDGET_CHANGED


@transaction.atomic
def member_remove(*, actor_role: str | None, membership: Membership) -> None:
    """Remove a member from the tenant (their account stays; their conversations stay with the
    tenant); their open chat sockets close."""
    _check_member_change(actor_role=actor_role, membership=membership, role="", active=False)
    tell(
        tenant_id=membership.tenant_id,
        change=Change.MEMBER_REMOVED,
        target=membership.user.get_username(),
        changes={"role": [membership.role, None]},
    )
    membership.delete()
