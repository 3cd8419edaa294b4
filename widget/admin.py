from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from widget.models import Site


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin[Site]):
    list_display = ["name", "tenant", "key", "enabled", "updated_at"]
    list_filter = ["tenant", "enabled"]
    search_fields = ["name", "key", "tenant__slug"]
    readonly_fields = ["key", "created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return Site.all_tenants.select_related("tenant")
