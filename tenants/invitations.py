"""Invitations: how an existing account joins a tenant, with its consent.

Owners and admins invite an e-mail address; nothing about accounts is looked up or told (the
answer is the same for any address). The address gets a link with a single-use token (only its
hash is stored) that expires after ``INVITATION_TTL_DAYS``; whoever opens it signs in (or creates
an account) and accepts: the membership is made then, for that account.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from tenants.changes import Change, tell
from tenants.models import Invitation, Membership, Tenant
from tenants.services import AlreadyMember

log = structlog.stdlib.get_logger(__name__)


class InvitationInvalid(Exception):
    """Unknown, used, revoked or expired: the same answer for all four."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_link(token: str) -> str:
    return settings.SITE_URL + reverse("invitation", args=[token])


@transaction.atomic
def invitation_create(*, tenant: Tenant, email: str, role: str, invited_by_id: int | None) -> Invitation:
    """Store the invitation and e-mail its link once committed. The token exists only in the
    e-mail: not in the database, the API's answer or the logs."""
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        tenant=tenant,
        email=email,
        role=role,
        token_hash=_hash(token),
        invited_by_id=invited_by_id,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    transaction.on_commit(lambda: _send(invitation, token))
    tell(tenant_id=tenant.pk, change=Change.INVITATION_SENT, target=email, changes={"role": [None, role]})
    return invitation


def _send(invitation: Invitation, token: str) -> None:
    tenant = invitation.tenant
    try:
        send_mail(
            subject=f"You are invited to {tenant.name} on chatplatform",
            message=(
                f"You are invited to join {tenant.name} as {invitation.role}.\n\n"
                f"Accept here (the link works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n"
                f"{invitation_link(token)}\n\nIf you did not expect this, ignore this e-mail."
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[invitation.email],
        )
    except OSError as exc:  # the invitation stays; it can be revoked and sent again
        log.error("invitation.email_failed", invitation_id=invitation.pk, error=repr(exc))


def invitation_pending(*, token: str, now: datetime) -> Invitation:
    """The invitation of ``token`` if it can still be accepted (a deliberate cross-tenant read:
    the token is what names the tenant)."""
    invitation = (
        Invitation.objects.unscoped().select_related("tenant").filter(token_hash=_hash(token)).first()
    )
    if invitation is None or invitation.status(now) != "pending" or not invitation.tenant.active:
        raise InvitationInvalid
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user_id: int, now: datetime) -> Membership:
    """Make the membership for ``user_id``; the token is used up. An account that is already a
    member gets ``AlreadyMember`` and leaves the invitation as it was."""
    pending = invitation_pending(token=token, now=now)
    invitation = Invitation.objects.for_tenant(pending.tenant_id).select_for_update().get(pk=pending.pk)
    if invitation.status(now) != "pending":
        raise InvitationInvalid
    invitation.accepted_at, invitation.accepted_by_id = now, user_id
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    if Membership.objects.for_tenant(invitation.tenant_id).filter(user_id=user_id).exists():
        raise AlreadyMember
    log.info("invitation.accepted", invitation_id=invitation.pk, tenant_id=invitation.tenant_id)
    tell(
        tenant_id=invitation.tenant_id,
        change=Change.INVITATION_ACCEPTED,
        target=invitation.email,
        changes={"role": [None, invitation.role]},
    )
    return Membership.objects.create(tenant_id=invitation.tenant_id, user_id=user_id, role=invitation.role)


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, now: datetime) -> None:
    if invitation.status(now) == "pending":
        invitation.revoked_at = now
        invitation.save(update_fields=["revoked_at"])
        tell(tenant_id=invitation.tenant_id, change=Change.INVITATION_REVOKED, target=invitation.email)


def address_verified(*, user_id: int, email: str) -> bool:
    """The platform knows the account holds ``email``: it accepted an invitation sent there (the
    link reached that inbox). A user-level read, across tenants."""
    return Invitation.objects.unscoped().filter(accepted_by_id=user_id, email__iexact=email).exists()
