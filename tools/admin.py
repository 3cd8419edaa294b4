from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from tools.models import Tool
from tools.services import tool_delete


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin[Tool]):
    list_display = ["name", "tenant", "method", "url", "timeout_s", "updated_at"]
    # A URL typed without a scheme is read as https:// (Django 6's default; tools need HTTPS).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_filter = ["tenant", "method"]
    search_fields = ["name", "tenant__slug", "url"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return Tool.all_tenants.select_related("tenant")

    def delete_model(self, request: HttpRequest, obj: Tool) -> None:
        tool_delete(tool=obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for tool in queryset:
            tool_delete(tool=tool)
