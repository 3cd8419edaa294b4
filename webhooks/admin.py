from django.contrib import admin

from webhooks.models import Delivery, Endpoint


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "tenant", "active", "failures_in_a_row", "created_at"]
    list_filter = ["active"]
    exclude = ["secret"]
    readonly_fields = ["failures_in_a_row", "disabled_reason"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The delivery log, read only."""

    list_display = ["event", "url", "tenant", "status", "attempts", "created_at"]
    list_filter = ["status", "event"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
