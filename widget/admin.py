from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from widget.models import Site, Visitor


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin[Site]):
    list_display = ["name", "tenant", "key", "enabled", "require_verification", "updated_at"]
    list_filter = ["tenant", "enabled", "require_verification"]
    search_fields = ["name", "key", "tenant__slug"]
    # The identity secret is shown to the tenant's owners once (REST, console), never here.
    readonly_fields = ["key", "identity_secret_rotated_at", "created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return Site.all_tenants.select_related("tenant")


@admin.register(Visitor)
class VisitorAdmin(admin.ModelAdmin[Visitor]):
    """Who chatted on a site: verified ones by the id the tenant's server gave them."""

    list_display = ["__str__", "tenant", "site", "external_id", "email", "created_at", "updated_at"]
    list_filter = ["tenant", "site"]
    search_fields = ["external_id", "name", "email", "user__username"]
    readonly_fields = ["tenant", "site", "user", "external_id", "address", "created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return Visitor.all_tenants.select_related("tenant", "site", "user")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # visitors come from the widget
