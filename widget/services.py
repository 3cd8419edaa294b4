"""Writes to a tenant's widget sites."""

from typing import Any

from django.db import transaction

from tenants.models import Tenant
from widget.domains import domain_normalized
from widget.models import Site

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
    return Site.objects.for_tenant(tenant.pk).create(tenant=tenant, **_normalized(fields))


def site_update(*, site: Site, fields: dict[str, Any]) -> Site:
    for name, value in _normalized(fields).items():
        setattr(site, name, value)
    site.save()
    return site


def site_delete(*, site: Site) -> None:
    site.delete()
