"""Who an SSO sign-in is, and a tenant's connection to its provider.

The account rules (the pre-account takeover of Chatwoot CVE-2026-44707 is what they close):

1. A returning person is found by the provider's ``(issuer, sub)`` and nothing else.
2. A first sign-in needs an e-mail address the provider says it verified
   (``email_verified: true``), in one of the connection's allowed domains.
3. It joins an existing account with that address only if the platform verified it too: the
   account accepted an invitation sent to that address, or the tenant's own provisioning (SCIM)
   made the account for that address (``scim.selectors.provisioned_account``: this tenant's
   directory vouches for it, and the account is a member of this tenant only). Any other
   account with the address (made by an admin, maybe another tenant's, with an address nobody
   proved) stays apart, and a new account is made for the person, with no password (they sign
   in through their provider).
4. The role comes from the provider's groups claim through the connection's map on every sign-in
   (the weightiest match; the default role when none matches); with no map, a new member gets
   the default role and the team sets it from then on. An owner's role is never changed by a
   provider, nor can a provider make one.
"""

import hashlib
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from scim.selectors import provisioned_account
from sso.models import Connection, Identity
from sso.provider import provider_forget
from tenants.changes import Change, shown, tell, tell_changed, tell_gone, tell_made
from tenants.invitations import address_verified
from tenants.models import Membership, Role, Tenant, weightiest_role
from tenants.services import member_update, unused_username


class SignInRefused(Exception):
    """The sign-in is refused; ``code`` for the logs and tests, the message for the person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def role_from_claims(connection: Connection, claims: dict[str, Any]) -> str:
    value = claims.get(connection.role_claim)
    groups = {value} if isinstance(value, str) else {str(group) for group in value or [] if group is not None}
    mapped = {connection.role_map[group] for group in groups if group in connection.role_map}
    return weightiest_role(mapped, connection.default_role)


def _email_allowed(connection: Connection, claims: dict[str, Any]) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise SignInRefused("no_email", "Your identity provider did not give an e-mail address.")
    if claims.get("email_verified") is not True:
        raise SignInRefused(
            "email_unverified", "Your identity provider has not verified your e-mail address."
        )
    domain = email.rsplit("@", 1)[1].lower()
    if connection.allowed_domains and domain not in connection.allowed_domains:
        raise SignInRefused("domain_not_allowed", f"Addresses at {domain} may not sign in here.")
    return email


def _new_user(email: str, claims: dict[str, Any], subject_hash: str) -> AbstractBaseUser:
    user = get_user_model()(
        username=unused_username(email, subject_hash[:8]),
        email=email,
        first_name=str(claims.get("given_name") or "")[:150],
        last_name=str(claims.get("family_name") or "")[:150],
    )
    user.set_unusable_password()
    user.save()
    return user


def _account(connection: Connection, claims: dict[str, Any], issuer: str, now: datetime) -> Any:
    subject = str(claims["sub"])
    identity = (
        Identity.objects.for_tenant(connection.tenant_id)
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    if identity is not None:
        identity.last_sign_in_at = now
        identity.save(update_fields=["last_sign_in_at"])
        return identity.user
    email = _email_allowed(connection, claims)
    user_model = get_user_model()
    user: Any = provisioned_account(tenant_id=connection.tenant_id, email=email) or next(
        (
            candidate
            for candidate in user_model.objects.filter(email__iexact=email, is_active=True)
            if address_verified(user_id=candidate.pk, email=email)
        ),
        None,
    )
    if user is None:
        user = _new_user(email, claims, hashlib.sha256(f"{issuer} {subject}".encode()).hexdigest())
    Identity.objects.create(
        tenant_id=connection.tenant_id,
        user=user,
        issuer=issuer,
        subject=subject,
        email=email,
        last_sign_in_at=now,
    )
    return user


@transaction.atomic
def sso_sign_in(*, connection: Connection, claims: dict[str, Any], now: datetime) -> Any:
    """The account the provider's checked claims (the ID token's, and the userinfo endpoint's for
    the same ``sub``) sign in, its membership made or brought up to date."""
    user = _account(connection, claims, connection.issuer.rstrip("/"), now)
    if not user.is_active:
        raise SignInRefused("account_inactive", "Your account is deactivated.")
    role = role_from_claims(connection, claims)
    membership = Membership.objects.for_tenant(connection.tenant_id).filter(user=user).first()
    if membership is None:
        Membership.objects.create(tenant_id=connection.tenant_id, user=user, role=role)
        tell(
            tenant_id=connection.tenant_id,
            change=Change.MEMBER_ADDED,
            target=user.get_username(),
            changes={"role": [None, role], "via": [None, "sso"]},
        )
    elif not membership.active:
        raise SignInRefused("membership_inactive", "Your membership of this workspace is deactivated.")
    elif connection.role_map and membership.role not in (Role.OWNER, role):
        member_update(actor_role=None, membership=membership, role=role)
    return user


def password_refused(user: Any) -> bool:
    """The user is a member (not an owner) of a tenant whose members sign in through SSO only.
    Owners keep their password: the way in when the provider fails. Platform staff too."""
    if user.is_staff:
        return False
    sso_only = Connection.all_tenants.filter(enabled=True, sso_only=True).values("tenant_id")
    return (
        Membership.objects.unscoped()
        .filter(user=user, active=True, tenant_id__in=sso_only)
        .exclude(role=Role.OWNER)
        .exists()
    )


# What the record of a connection's change shows (the secret never: only that it changed).
_SHOWN = [
    "issuer", "client_id", "allowed_domains", "role_claim", "role_map", "default_role", "enabled", "sso_only",
]  # fmt: skip


def _shown(connection: Connection) -> dict[str, Any]:
    return shown(connection, _SHOWN, secrets=["client_secret"])


@transaction.atomic
def connection_save(*, tenant: Tenant, fields: dict[str, Any]) -> Connection:
    """Create or change the tenant's connection; a ``client_secret`` left out keeps the one saved."""
    existing = Connection.objects.for_tenant(tenant.pk).select_for_update().first()
    connection = existing or Connection(tenant=tenant)
    before = _shown(connection)
    for field, value in fields.items():
        setattr(connection, field, value)
    connection.full_clean(exclude=["tenant"])
    connection.save()
    target, change = "single sign-on", Change.SSO_CHANGED
    if existing is None:
        tell_made(tenant_id=tenant.pk, change=change, target=target, now=_shown(connection))
    else:
        tell_changed(
            tenant_id=tenant.pk, change=change, target=target, before=before, after=_shown(connection)
        )
    transaction.on_commit(lambda: provider_forget(connection))
    return connection


@transaction.atomic
def connection_delete(*, connection: Connection) -> None:
    """The connection goes; its identities stay (a connection made again finds its people)."""
    tell_gone(
        tenant_id=connection.tenant_id,
        change=Change.SSO_REMOVED,
        target="single sign-on",
        was=_shown(connection),
    )
    connection.delete()
    transaction.on_commit(lambda: provider_forget(connection))
