"""Finding a tenant's provider from the sign-in pages (before anyone is signed in: by the
workspace's name in the address, of enabled connections only)."""

from sso.models import Connection


def connection_for_slug(slug: str) -> Connection | None:
    return (
        Connection.all_tenants.select_related("tenant")
        .filter(tenant__slug=slug, tenant__active=True, enabled=True)
        .first()
    )
