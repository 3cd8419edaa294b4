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
