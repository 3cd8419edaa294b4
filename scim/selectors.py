"""Reading a tenant's directory: its SCIM users (every member has one) and groups."""

import uuid
from typing import Any

import email_validator
from django.db.models import Prefetch, QuerySet
from scim2_models import NotFoundException

from scim.models import ScimGroup, ScimUser
from tenants.models import Membership


def ensure_records(tenant_id: int) -> None:
    """A SCIM user for each member the team added or invited since the directory was last read,
    named by their account's username (or, if a provisioned person has that name already, by it
    and the membership's number)."""
    missing = list(
        Membership.objects.for_tenant(tenant_id)
        .filter(scim__isnull=True)
        .select_related("user")
        .order_by("pk")
    )
    if not missing:
        return
    taken = {
        name.lower() for name in ScimUser.objects.for_tenant(tenant_id).values_list("user_name", flat=True)
    }
    records = []
    for membership in missing:
        user: Any = membership.user
        name = user.get_username()
        name = f"{name[:130]}.{membership.pk}" if name.lower() in taken else name
        taken.add(name.lower())
        document: dict[str, Any] = {"userName": name, "active": membership.active}
        if user.first_name or user.last_name:
            document["name"] = {
                key: value
                for key, value in (("givenName", user.first_name), ("familyName", user.last_name))
                if value
            }
        if _valid_email(user.email):
            document["emails"] = [{"value": user.email, "primary": True}]
        records.append(
            ScimUser(
                tenant_id=tenant_id,
                membership=membership,
                user_name=name,
                given_name=user.first_name,
                family_name=user.last_name,
                email=user.email,
                document=document,
            )
        )
    ScimUser.objects.bulk_create(records, ignore_conflicts=True)


def _valid_email(address: str) -> bool:
    """An address the SCIM User's ``emails`` may hold (an account's, checked by Django's rules
    when saved, may still be one email-validator refuses)."""
    try:
        email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return False
    return True


def users(tenant_id: int) -> QuerySet[ScimUser]:
    return (
        ScimUser.objects.for_tenant(tenant_id)
        .select_related("membership")
        .prefetch_related(Prefetch("groups", queryset=ScimGroup.objects.for_tenant(tenant_id).order_by("pk")))
        .order_by("pk")
    )


def groups(tenant_id: int) -> QuerySet[ScimGroup]:
    return (
        ScimGroup.objects.for_tenant(tenant_id)
        .prefetch_related(Prefetch("members", queryset=ScimUser.objects.for_tenant(tenant_id).order_by("pk")))
        .order_by("pk")
    )


def record(queryset: QuerySet[Any], scim_id: str) -> Any:
    """The record of ``queryset`` (a tenant's users or groups) whose SCIM id is ``scim_id``."""
    try:
        return queryset.get(scim_id=uuid.UUID(scim_id))
    except (ValueError, queryset.model.DoesNotExist):
        raise NotFoundException(detail=f"no resource {scim_id[:100]}") from None


def provisioned_account(*, tenant_id: int, email: str) -> Any | None:
    """The account this tenant's provisioning made for ``email`` (still its member: deactivated
    or not, which the sign-in then tells), which the tenant's SSO sign-in joins: the tenant's own
    provider made it for that person."""
    record = (
        ScimUser.objects.for_tenant(tenant_id)
        .select_related("membership__user")
        .filter(provisioned=True, email__iexact=email, membership__user__is_active=True)
        .order_by("pk")
        .first()
    )
    return record.membership.user if record else None
