"""Provisioning from a tenant's identity provider (SCIM 2.0): its people and groups written
through the platform's own member services, so that the rules hold here as everywhere:

- a provider never makes, changes, deactivates or removes an owner (owners are made by owners,
  in the platform: ``ForbiddenException``, 403);
- a deactivation or removal closes the person's open sockets once committed (``member_update``,
  ``member_remove``: ``chat.revocation``), and is recorded with the SCIM key as its credential;
- an account the provisioning made (``ScimUser.provisioned``) follows the provider's names and
  e-mail and may be given a password; any other account (invited, made by the team, maybe
  another tenant's member too) is only described here: its names, address and password are its
  own;
- once any group has a role (set by the tenant's owners and admins: ``group_role_set``), the
  groups decide the roles of their members: the weightiest, or member when none gives one.
"""

import secrets
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from scim2_models import ForbiddenException, InvalidValueException, UniquenessException

from scim.models import ScimGroup, ScimUser
from scim.resources import document_of, primary_email
from scim.selectors import users
from tenants.changes import Change, shown, tell, tell_changed, tell_gone, tell_made
from tenants.models import Membership, Role, Tenant, weightiest_role
from tenants.services import member_remove, member_update, unused_username

_USER_FIELDS = ["user_name", "external_id", "display_name", "given_name", "family_name", "email"]
_GROUP_FIELDS = ["display_name", "external_id", "role"]


def _fitted(value: Any, field: str, model: type[Any]) -> str:
    text = str(value or "").strip()
    limit = model._meta.get_field(field).max_length
    if len(text) > limit:
        raise InvalidValueException(detail=f"{field} has at most {limit} characters")
    return text


def _user_columns(resource: Any) -> dict[str, Any]:
    name = resource.name
    values = {
        "user_name": resource.user_name,
        "external_id": resource.external_id,
        "display_name": resource.display_name,
        "given_name": name.given_name if name else "",
        "family_name": name.family_name if name else "",
        "email": primary_email(resource),
    }
    columns: dict[str, Any] = {field: _fitted(value, field, ScimUser) for field, value in values.items()}
    if not columns["user_name"]:
        raise InvalidValueException(detail="userName is required")
    return columns | {"document": document_of(resource)}


def _name_free(tenant_id: int, model: type[Any], field: str, value: str, record: Any = None) -> None:
    taken = model.objects.for_tenant(tenant_id).filter(**{f"{field}__iexact": value})
    if record is not None:
        taken = taken.exclude(pk=record.pk)
    if taken.exists():
        raise UniquenessException(detail=f"{value} is taken in this workspace")


def _password(user: Any, password: str | None) -> None:
    if password is None:
        return
    try:
        validate_password(password, user)
    except ValidationError as refused:
        raise InvalidValueException(detail=" ".join(refused.messages)) from None
    user.set_password(password)


def _not_owner(membership: Membership) -> None:
    if membership.role == Role.OWNER:
        raise ForbiddenException(detail="owners are managed in the platform, not by provisioning")


@transaction.atomic
def user_create(*, tenant: Tenant, resource: Any) -> ScimUser:
    """A new account for the person (its username their ``userName`` if no account has it),
    a member of the tenant only."""
    columns = _user_columns(resource)
    _name_free(tenant.pk, ScimUser, "user_name", columns["user_name"])
    username = unused_username(columns["user_name"], secrets.token_hex(4))
    user: Any = get_user_model()(
        username=username,
        email=columns["email"],
        first_name=columns["given_name"],
        last_name=columns["family_name"],
    )
    user.set_unusable_password()
    _password(user, resource.password)
    user.save()
    membership = Membership.objects.create(
        tenant=tenant, user=user, role=Role.MEMBER, active=resource.active is not False
    )
    tell(
        tenant_id=tenant.pk,
        change=Change.MEMBER_ADDED,
        target=username,
        changes={"role": [None, Role.MEMBER], "via": [None, "scim"], "active": [None, membership.active]},
    )
    return ScimUser.objects.create(tenant=tenant, membership=membership, provisioned=True, **columns)


@transaction.atomic
def user_replace(*, record: ScimUser, resource: Any, actor_role: str | None) -> ScimUser:
    """``record`` as ``resource`` says (a PUT, or a PATCH applied to the record as it was)."""
    columns = _user_columns(resource)
    if columns["user_name"].lower() != record.user_name.lower():
        _name_free(record.tenant_id, ScimUser, "user_name", columns["user_name"], record)
    if resource.password is not None and not record.provisioned:
        raise ForbiddenException(detail="this account's password is its owner's: it was not provisioned here")
    membership = record.membership
    if resource.active is not None and resource.active != membership.active:
        _not_owner(membership)
        member_update(actor_role=actor_role, membership=membership, active=resource.active)
    user: Any = membership.user
    before = shown(record, _USER_FIELDS) | shown(user, [], secrets=["password"])
    for field, value in columns.items():
        setattr(record, field, value)
    record.save()
    if record.provisioned:
        user.first_name, user.last_name, user.email = record.given_name, record.family_name, record.email
        _password(user, resource.password)
        user.save()
    tell_changed(
        tenant_id=record.tenant_id,
        change=Change.SCIM_USER_CHANGED,
        target=record.user_name,
        before=before,
        after=shown(record, _USER_FIELDS) | shown(user, [], secrets=["password"]),
    )
    return record


@transaction.atomic
def user_delete(*, record: ScimUser, actor_role: str | None) -> None:
    """The person leaves the tenant (their conversations stay with it); an account the
    provisioning made, member of nothing else now, can no longer sign in."""
    membership = record.membership
    _not_owner(membership)
    member_remove(actor_role=actor_role, membership=membership)
    if record.provisioned and not Membership.objects.unscoped().filter(user_id=membership.user_id).exists():
        get_user_model().objects.filter(pk=membership.user_id).update(is_active=False)


def _members(tenant_id: int, resource: Any) -> list[ScimUser]:
    """The tenant's users ``resource`` names as its members (an unknown one, or another
    tenant's, refuses the whole request)."""
    wanted = {str(member.value) for member in resource.members or [] if member.value}
    try:
        ids = {uuid.UUID(value) for value in wanted}
    except ValueError:
        ids = set()
    found = list(users(tenant_id).filter(scim_id__in=ids)) if len(ids) == len(wanted) else []
    if len(found) != len(wanted):
        raise InvalidValueException(detail="a member is not a user of this workspace")
    return found


def _group_columns(tenant_id: int, resource: Any, record: ScimGroup | None = None) -> dict[str, str]:
    name = _fitted(resource.display_name, "display_name", ScimGroup)
    if not name:
        raise InvalidValueException(detail="displayName is required")
    if record is None or name.lower() != record.display_name.lower():
        _name_free(tenant_id, ScimGroup, "display_name", name, record)
    return {"display_name": name, "external_id": _fitted(resource.external_id, "external_id", ScimGroup)}


def _member_names(records: list[ScimUser]) -> list[str]:
    return sorted(record.user_name for record in records)


@transaction.atomic
def group_create(*, tenant: Tenant, resource: Any, actor_role: str | None) -> ScimGroup:
    columns = _group_columns(tenant.pk, resource)
    members = _members(tenant.pk, resource)
    group = ScimGroup.objects.create(tenant=tenant, **columns)
    group.members.set(members)
    tell_made(
        tenant_id=tenant.pk,
        change=Change.SCIM_GROUP_CREATED,
        target=group.display_name,
        now=shown(group, _GROUP_FIELDS) | {"members": _member_names(members)},
    )
    _roles_from_groups(tenant.pk, members, actor_role)
    return group


@transaction.atomic
def group_replace(*, record: ScimGroup, resource: Any, actor_role: str | None) -> ScimGroup:
    before_members = list(record.members.all())
    before = shown(record, _GROUP_FIELDS) | {"members": _member_names(before_members)}
    columns = _group_columns(record.tenant_id, resource, record)
    members = _members(record.tenant_id, resource)
    for field, value in columns.items():
        setattr(record, field, value)
    record.save()
    record.members.set(members)
    tell_changed(
        tenant_id=record.tenant_id,
        change=Change.SCIM_GROUP_CHANGED,
        target=record.display_name,
        before=before,
        after=shown(record, _GROUP_FIELDS) | {"members": _member_names(members)},
    )
    _roles_from_groups(record.tenant_id, [*before_members, *members], actor_role)
    return record


@transaction.atomic
def group_delete(*, record: ScimGroup, actor_role: str | None) -> None:
    members = list(record.members.all())
    tell_gone(
        tenant_id=record.tenant_id,
        change=Change.SCIM_GROUP_DELETED,
        target=record.display_name,
        was=shown(record, _GROUP_FIELDS) | {"members": _member_names(members)},
    )
    record.delete()
    _roles_from_groups(record.tenant_id, members, actor_role, a_role_went=bool(record.role))


@transaction.atomic
def group_role_set(*, group: ScimGroup, role: str, actor_role: str | None) -> ScimGroup:
    """What the group's members are (blank: the group gives no role), set by an owner or admin."""
    before = shown(group, _GROUP_FIELDS)
    a_role_went = bool(group.role)
    group.role = role
    group.save(update_fields=["role", "updated_at"])
    tell_changed(
        tenant_id=group.tenant_id,
        change=Change.SCIM_GROUP_CHANGED,
        target=group.display_name,
        before=before,
        after=shown(group, _GROUP_FIELDS),
    )
    _roles_from_groups(group.tenant_id, list(group.members.all()), actor_role, a_role_went=a_role_went)
    return group


def _roles_from_groups(
    tenant_id: int, records: list[ScimUser], actor_role: str | None, *, a_role_went: bool = False
) -> None:
    """The roles of ``records`` from their groups, when groups give roles (any does now, or the
    one that gave one just went or stopped)."""
    if not records:
        return
    if not a_role_went and not ScimGroup.objects.for_tenant(tenant_id).exclude(role="").exists():
        return
    for record in (
        users(tenant_id).filter(pk__in={record.pk for record in records}).select_related("membership__user")
    ):
        membership = record.membership
        if membership.role == Role.OWNER:
            continue
        role = weightiest_role({group.role for group in record.groups.all() if group.role}, Role.MEMBER)
        if role != membership.role:
            member_update(actor_role=actor_role, membership=membership, role=role)
