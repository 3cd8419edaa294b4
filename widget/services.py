"""Writes to a tenant's widget sites and their visitors."""

import ipaddress
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from infra.hour_counts import hour_count_exceeded
from infra.keys import tenant_prefix
from tenants.changes import Change, shown, tell, tell_changed, tell_gone, tell_made
from tenants.models import Tenant
from widget.domains import domain_normalized
from widget.identity import Identity
from widget.models import Site, Visitor, new_identity_secret

MAX_SITES = 20  # per tenant


class TooManySites(Exception):
    pass


def _normalized(fields: dict[str, Any]) -> dict[str, Any]:
    if "allowed_domains" in fields:
        return {**fields, "allowed_domains": [domain_normalized(d) for d in fields["allowed_domains"]]}
    return fields


@transaction.atomic
def site_create(*, tenant: Tenant, fields: dict[str, Any]) -> Site:
    """A new site with a new public key; ``TooManySites`` past ``MAX_SITES`` (counted under the
    tenant's row lock, so two requests at once cannot pass it)."""
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    if Site.objects.for_tenant(tenant.pk).count() >= MAX_SITES:
        raise TooManySites(f"at most {MAX_SITES} sites")
    site = Site.objects.for_tenant(tenant.pk).create(tenant=tenant, **_normalized(fields))
    tell_made(tenant_id=tenant.pk, change=Change.SITE_CREATED, target=site.name, now=_shown(site))
    return site


# What the audit log shows of a site (its identity secret only as rotated).
_SHOWN = [
    "name", "enabled", "allowed_domains", "title", "color", "logo_url", "launcher_text", "greeting",
    "starter_prompts", "position", "theme", "language", "require_verification",
    "visitor_messages_per_minute", "visitor_conversations_per_hour", "address_messages_per_minute",
    "address_conversations_per_hour", "daily_message_cap",
]  # fmt: skip


def _shown(site: Site) -> dict[str, Any]:
    return shown(site, _SHOWN)


@transaction.atomic
def site_update(*, site: Site, fields: dict[str, Any]) -> Site:
    before = _shown(site)
    for name, value in _normalized(fields).items():
        setattr(site, name, value)
    site.save()
    tell_changed(
        tenant_id=site.tenant_id,
        change=Change.SITE_CHANGED,
        target=site.name,
        before=before,
        after=_shown(site),
    )
    return site


@transaction.atomic
def site_delete(*, site: Site) -> None:
    tell_gone(tenant_id=site.tenant_id, change=Change.SITE_DELETED, target=site.name, was=_shown(site))
    site.delete()


def site_rotate_secret(*, site: Site) -> Site:
    """A new identity secret: tokens signed with the old one are refused from now on (the visitor
    tokens they were exchanged for last until the identity's own expiry, a day at most)."""
    site.identity_secret = new_identity_secret()
    site.identity_secret_rotated_at = timezone.now()
    with transaction.atomic():
        site.save(update_fields=["identity_secret", "identity_secret_rotated_at", "updated_at"])
        tell(tenant_id=site.tenant_id, change=Change.SITE_SECRET_ROTATED, target=site.name)
    return site


class TooManyVisitors(Exception):
    """The address started ``WIDGET_NEW_VISITORS_PER_ADDRESS_PER_HOUR`` visitors this hour."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many new visitors from this address; try again in {retry_after} s")
        self.retry_after = retry_after


def _count_new_visitor(site: Site, address: str) -> None:
    """One more new visitor from ``address`` this hour, or ``TooManyVisitors`` (counted in the
    shared cache, per site and clock hour)."""
    key = f"{tenant_prefix(site.tenant_id)}:site:{site.pk}:addr:{address}:visitors"
    wait = hour_count_exceeded(key, settings.WIDGET_NEW_VISITORS_PER_ADDRESS_PER_HOUR)
    if wait is not None:
        raise TooManyVisitors(retry_after=wait)


def _new_visitor(site: Site, address: str, **fields: Any) -> Visitor:
    user = get_user_model().objects.create_user(username=f"visitor-{uuid.uuid4().hex}", password=None)
    return Visitor.objects.for_tenant(site.tenant_id).create(
        tenant_id=site.tenant_id, site=site, user=user, address=_ip_or_none(address), **fields
    )


def _ip_or_none(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


@transaction.atomic
def visitor_start(*, site: Site, address: str) -> Visitor:
    """A new anonymous visitor of ``site`` (``TooManyVisitors`` past the address's hourly count)."""
    _count_new_visitor(site, address)
    return _new_visitor(site, address)


def visitor_identified(*, site: Site, identity: Identity, address: str) -> Visitor:
    """The verified visitor the tenant's server vouched for: the same one on every device (found
    by ``sub``), their name and e-mail as the latest token says."""
    visitors = Visitor.objects.for_tenant(site.tenant_id)
    visitor = visitors.filter(site=site, external_id=identity.external_id).first()
    if visitor is None:
        _count_new_visitor(site, address)
        try:
            with transaction.atomic():
                return _new_visitor(
                    site, address, external_id=identity.external_id, name=identity.name, email=identity.email
                )
        except IntegrityError:  # identified at the same moment on another device: that one
            visitor = visitors.get(site=site, external_id=identity.external_id)
    if (visitor.name, visitor.email) != (identity.name, identity.email):
        visitor.name, visitor.email = identity.name, identity.email
        visitor.save(update_fields=["name", "email", "updated_at"])
    return visitor
