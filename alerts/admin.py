from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from alerts.models import Alert, AlertRule


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin[AlertRule]):
    list_display = ["metric", "tenant", "direction", "threshold", "window_minutes", "min_samples", "muted"]
    list_filter = ["tenant", "metric", "muted"]
    list_editable = ["threshold", "muted"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return AlertRule.all_tenants.select_related("tenant")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin[Alert]):
    list_display = ["rule", "tenant", "state", "value", "opened_at", "resolved_at", "acknowledged_at"]
    list_filter = ["state", "tenant"]
    readonly_fields = [
        "rule",
        "state",
        "value",
        "last_value",
        "opened_at",
        "resolved_at",
        "notified_opened_at",
        "notified_resolved_at",
    ]

    def get_queryset(self, request: HttpRequest) -> Any:
        return Alert.all_tenants.select_related("tenant", "rule")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
